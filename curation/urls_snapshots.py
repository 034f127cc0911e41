"""Curator page routes (snapshots)."""

from django.urls import path

from curation import views_snapshots

urlpatterns = [
    path("", views_snapshots.snapshots, name="snapshots"),
    path("<int:pk>/", views_snapshots.snapshot_detail, name="snapshot_detail"),
    path("<int:pk>/export.zip", views_snapshots.snapshot_export, name="snapshot_export"),
]
