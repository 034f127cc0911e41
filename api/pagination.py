"""Cursor pagination: stable pages however many rows arrive meanwhile, and no deep OFFSET."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination


class NewestFirstCursor(CursorPagination):
    """Lists ordered newest first by primary key: ``?cursor=`` from ``next``/``previous``, ``?page_size=`` up to 200."""

    ordering = "-pk"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class OldestFirstCursor(CursorPagination):
    """Trails read in the order things happened: oldest first by time, then primary key."""

    ordering = ("at", "pk")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
