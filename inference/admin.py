"""Admin for model versions (activate/retire through the services) and read-only predictions."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from cases.admin import ReadOnlyAdmin
from inference.models import ModelVersion, Prediction, TryOut
from inference.services import model_version_activate, model_version_retire


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "task", "arch", "status", "weight", "untrained", "created_at"]
    list_filter = ["task", "status", "untrained", "arch"]
    search_fields = ["name", "version"]
    readonly_fields = [
        "name", "version", "task", "arch", "bundle_path", "weights_sha256", "class_names", "card",
        "untrained", "status", "created_at", "activated_at", "retired_at",
    ]  # fmt: skip
    fields = [*readonly_fields, "weight"]
    actions = ["activate", "retire"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # bundles are registered with `manage.py register_model`

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # predictions point at versions; retire instead

    @admin.action(description="Activate for new cases of their task")
    def activate(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        for version in queryset:
            model_version_activate(version=version, user=request.user)  # type: ignore[arg-type]
        messages.success(request, f"{queryset.count()} version(s) active.")

    @admin.action(description="Retire (stop using for new cases)")
    def retire(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        for version in queryset:
            model_version_retire(version=version, user=request.user)  # type: ignore[arg-type]
        messages.success(request, f"{queryset.count()} version(s) retired.")


@admin.register(Prediction)
class PredictionAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "overlay",
        "image",
        "model_version",
        "status",
        "label",
        "confidence",
        "uncertainty",
        "untrained",
    ]
    list_filter = ["status", "label", "untrained", "model_version__task"]
    list_select_related = ["model_version"]
    search_fields = ["image__sop_instance_uid", "label"]

    @admin.display(description="Saliency")
    def overlay(self, obj: Prediction) -> str:
        if not obj.saliency_raw:  # the overlay itself is drawn on first view (issue 17)
            return "—"
        return format_html('<img src="/predictions/{}/overlay.png" height="48" alt="">', obj.pk)


@admin.register(TryOut)
class TryOutAdmin(ReadOnlyAdmin):
    """Read-only: try-outs are deleted (files first) by their owner or by expiry, never here."""

    list_display = ["id", "user", "task", "status", "label", "confidence", "untrained", "expires_at"]
    list_filter = ["status", "task", "untrained"]
    list_select_related = ["user"]
    search_fields = ["user__username", "label"]
