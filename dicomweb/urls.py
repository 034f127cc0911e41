"""/dicomweb/: the DICOMweb service root (docs/dicomweb.md)."""

from django.urls import re_path

from dicomweb import views

app_name = "dicomweb"

UID = r"[0-9.]{1,64}"
SERIES = rf"studies/(?P<study>{UID})/series/(?P<series>{UID})"
INSTANCE = rf"{SERIES}/instances/(?P<instance>{UID})"

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
    # WADO-RS: the Retrieve URLs STOW-RS and QIDO-RS answers give.
    re_path(rf"^studies/(?P<study>{UID})/metadata/?$", views.MetadataView.as_view(), name="study_metadata"),
    re_path(rf"^{SERIES}/?$", views.SeriesView.as_view(), name="series"),
    re_path(rf"^{SERIES}/metadata/?$", views.MetadataView.as_view(), name="series_metadata"),
    re_path(rf"^{INSTANCE}/?$", views.InstanceView.as_view(), name="instance"),
    re_path(rf"^{INSTANCE}/metadata/?$", views.MetadataView.as_view(), name="instance_metadata"),
    re_path(rf"^{INSTANCE}/rendered/?$", views.RenderedView.as_view(), name="instance_rendered"),
    re_path(rf"^{INSTANCE}/frames/(?P<frames>[^/]+)/?$", views.FramesView.as_view(), name="frames"),
    re_path(
        rf"^{INSTANCE}/frames/(?P<frame>[^/]+)/rendered/?$",
        views.RenderedView.as_view(),
        name="frame_rendered",
    ),
]
