"""Curator page routes: retraining jobs (start, live progress, cancel), mounted at /curation/jobs/."""

from django.urls import path

from retraining import views

app_name = "retraining"

urlpatterns = [
    path("", views.jobs, name="jobs"),
    path("<int:pk>/", views.job_detail, name="job"),
    path("<int:pk>.json", views.job_status, name="job_status"),
    path("<int:pk>/cancel/", views.job_cancel_view, name="job_cancel"),
]
