"""Admin for snapshots: read-only (they are immutable), counts, the items, and an "Export zip" link."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from cases.admin import ReadOnlyAdmin
from curation.models import Snapshot, SnapshotItem


class SnapshotItemInline(admin.TabularInline):
    model = SnapshotItem
    fields = ["path", "image", "label", "split", "group", "provenance", "sha256"]
    readonly_fields = ["path", "image", "label", "split", "group", "provenance", "sha256"]
    can_delete = False
    extra = 0
    max_num = 0
    show_change_link = False
    classes = ["collapse"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Snapshot)
class SnapshotAdmin(ReadOnlyAdmin):
    """Frozen: nothing to change. Freeze on the Curator page, the API or ``manage.py freeze_snapshot``."""

    list_display = [
        "name",
        "task",
        "version",
        "size",
        "hash_prefix",
        "include_base",
        "created_by",
        "created_at",
    ]
    list_filter = ["task", "include_base"]
    search_fields = ["name", "content_hash", "note"]
    _shown = (
        "name", "task", "version", "note", "content_hash", "seed", "val_fraction", "test_fraction",
        "include_base", "class_names", "counts_table", "manifest", "created_by", "created_at", "export_link",
    )  # fmt: skip
    fields = readonly_fields = _shown
    inlines = [SnapshotItemInline]

    @admin.display(description="Images")
    def size(self, obj: Snapshot) -> int:
        return obj.size

    @admin.display(description="Content hash")
    def hash_prefix(self, obj: Snapshot) -> str:
        return obj.content_hash[:12]

    @admin.display(description="Images per split and class")
    def counts_table(self, obj: Snapshot) -> str:
        head = format_html_join("", "<th>{}</th>", ((c,) for c in obj.class_names))
        rows = format_html_join(
            "",
            "<tr><th>{}</th>{}</tr>",
            (
                (side, format_html_join("", "<td>{}</td>", ((per_class.get(c, 0),) for c in obj.class_names)))
                for side, per_class in obj.counts.items()
            ),
        )
        return format_html("<table><tr><th></th>{}</tr>{}</table>", head, rows)

    @admin.display(description="Export")
    def export_link(self, obj: Snapshot) -> str:
        return format_html(
            '<a class="button" href="{}" download>Export zip</a>',
            reverse("curation:snapshot_export", args=[obj.pk]),
        )
