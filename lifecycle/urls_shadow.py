"""Routes of the shadow (champion/challenger) part, mounted at /curation/models/shadow/."""

from django.urls import path

from lifecycle import views_shadow

urlpatterns = [
    path("", views_shadow.shadows, name="shadows"),
    path("start/", views_shadow.shadow_start_view, name="shadow_start"),
    path("<int:pk>/", views_shadow.shadow_detail, name="shadow"),
    path("<int:pk>/stop/", views_shadow.shadow_stop_view, name="shadow_stop"),
]
