"""Curator page routes (snapshots)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
