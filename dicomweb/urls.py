"""/dicomweb/: the DICOMweb service root (docs/dicomweb.md)."""

from django.urls import re_path

from dicomweb import views

app_name = "dicomweb"

UID = r"[0-9.]{1,64}"

urlpatterns = [
    re_path(r"^studies/?$", views.StudiesView.as_view(), name="studies"),
    re_path(rf"^studies/(?P<study>{UID})/?$", views.StudyView.as_view(), name="study"),
    re_path(rf"^studies/(?P<study>{UID})/series/?$", views.StudySeriesView.as_view(), name="study_series"),
    re_path(
        rf"^studies/(?P<study>{UID})/instances/?$", views.InstancesView.as_view(), name="study_instances"
    ),
    re_path(
        rf"^studies/(?P<study>{UID})/series/(?P<series>{UID})/instances/?$",
        views.InstancesView.as_view(),
        name="series_instances",
    ),
    re_path(r"^series/?$", views.AllSeriesView.as_view(), name="all_series"),
    re_path(r"^instances/?$", views.InstancesView.as_view(), name="all_instances"),
    # WADO-RS (not yet): the URLs STOW-RS and QIDO-RS answers give as Retrieve URL.
    re_path(
        rf"^studies/(?P<study>{UID})/series/(?P<series>{UID})/?$", views.NotYetView.as_view(), name="series"
    ),
    re_path(
        rf"^studies/(?P<study>{UID})/series/(?P<series>{UID})/instances/(?P<instance>{UID})/?$",
        views.NotYetView.as_view(),
        name="instance",
    ),
]
