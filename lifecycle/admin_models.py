"""Admin: promotions and roll-backs, read only (they change the ensemble through lifecycle.services.promotion)."""

from __future__ import annotations

from django.contrib import admin

from cases.admin import ReadOnlyAdmin
from lifecycle.models import ModelChange


@admin.register(ModelChange)
class ModelChangeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "task", "kind", "version", "actor", "evaluation"]
    list_filter = ["task", "kind"]
    search_fields = ["version__name", "version__version", "reason"]
    list_select_related = ["version", "actor", "evaluation"]
    fields = readonly_fields = (
        "task", "kind", "version", "before", "after", "evaluation", "gate", "reason", "actor", "created_at",
    )  # fmt: skip
