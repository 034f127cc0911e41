"""Fair comparison pages, mounted at /curation/models/evaluations/ (names lifecycle:evaluation...)."""

from django.urls import path

from lifecycle import views_evaluations as views

urlpatterns = [
    path("", views.evaluations, name="evaluations"),
    path("<int:pk>/", views.evaluation_detail, name="evaluation"),
    path("<int:pk>.json", views.evaluation_status, name="evaluation_status"),
]
