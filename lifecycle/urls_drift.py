"""Drift watch routes, mounted by lifecycle.urls at /curation/drift/."""

from django.urls import path

from lifecycle import views_drift

urlpatterns = [
    path("", views_drift.drift, name="drift"),
    path("reference/<int:version_id>/", views_drift.drift_reference_build, name="drift_reference_build"),
]
