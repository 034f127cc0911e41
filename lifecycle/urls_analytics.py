"""Routes of the analytics part, mounted at /curation/analytics/ by lifecycle.urls."""

from django.urls import path

from lifecycle import views_analytics

urlpatterns = [
    path("", views_analytics.analytics, name="analytics"),
    path("figures.csv", views_analytics.analytics_csv, name="analytics_csv"),
]
