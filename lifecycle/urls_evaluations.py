"""Routes of the lifecycle part mounted by lifecycle.urls (filled by its part)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
