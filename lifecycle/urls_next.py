"""The Curator page's Label next tab (/curation/next/): active learning's queue."""

from django.urls import path

from lifecycle import views_next

urlpatterns = [
    path("", views_next.next_queue, name="next"),
]
