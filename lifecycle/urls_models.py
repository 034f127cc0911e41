"""The Models tab (mounted at /curation/models/): overview, promote through the gate, roll back."""

from django.urls import path

from lifecycle import views_models

urlpatterns = [
    path("", views_models.models, name="models"),
    path("<int:version_id>/promote/", views_models.promote, name="promote"),
    path("<int:version_id>/rollback/", views_models.rollback_version, name="rollback_version"),
    path("changes/<int:change_id>/rollback/", views_models.rollback, name="rollback"),
]
