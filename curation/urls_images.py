"""Curator page routes (images)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
