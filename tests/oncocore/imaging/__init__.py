"""Tests for oncocore.imaging (Django-free)."""
