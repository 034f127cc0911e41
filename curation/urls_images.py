"""Curator page routes (images)."""

from django.urls import path

from curation import views_images

urlpatterns = [
    path("", views_images.images, name="images"),
]
