"""Curator page routes of the model lifecycle, mounted at /curation/: one module per part."""

from django.urls import include, path

app_name = "lifecycle"

urlpatterns = [
    path("models/", include("lifecycle.urls_models")),  # champion, candidates, promote, roll back
    path("models/evaluations/", include("lifecycle.urls_evaluations")),  # fair comparison
    path("models/shadow/", include("lifecycle.urls_shadow")),  # champion/challenger on live cases
    path("analytics/", include("lifecycle.urls_analytics")),  # AI against the readers
    path("drift/", include("lifecycle.urls_drift")),  # drift watch
    path("next/", include("lifecycle.urls_next")),  # active learning: label these next
]
