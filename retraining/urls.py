"""Curator page routes: retraining jobs (start, live progress, cancel)."""

from django.urls import URLPattern

app_name = "retraining"

urlpatterns: list[URLPattern] = []
