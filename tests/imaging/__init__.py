"""Tests for cases.imaging (Django-free)."""
