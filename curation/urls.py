"""The Curator page: labelled images, snapshots (and, under /curation/jobs/, the retraining app's jobs)."""

from django.urls import include, path

app_name = "curation"

urlpatterns = [
    path("", include("curation.urls_images")),
    path("snapshots/", include("curation.urls_snapshots")),
]
