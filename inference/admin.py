"""Admin for model versions (activate/retire through the services) and read-only predictions."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from cases.admin import ReadOnlyAdmin
from cases.models import AuditSource
from cases.services.audit import AuditContext
from inference.models import ModelVersion, Prediction, TryOut
from inference.services import (
    model_version_activate,
    model_version_check_weight,
    model_version_retire,
    model_version_set_weight,
)
from oncoportal.exceptions import InvalidInput


def _audit(request: HttpRequest) -> AuditContext:
    return AuditContext.from_request(request, source=AuditSource.WEB)


class ModelVersionForm(forms.ModelForm):
    class Meta:
        model = ModelVersion
        fields = ["weight"]

    def clean_weight(self) -> float:
        # The service's own rule, so the form says what the service would refuse.
        try:
            return model_version_check_weight(self.cleaned_data["weight"])
        except InvalidInput as exc:
            raise forms.ValidationError(exc.message) from None


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
    form = ModelVersionForm
    actions = ["activate", "retire"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # bundles are registered with `manage.py register_model`

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # predictions point at versions; retire instead

    def save_model(self, request: HttpRequest, obj: ModelVersion, form: Any, change: bool) -> None:
        # Not super(): the weight is the one editable field, and the service validates and audits it.
        if "weight" in form.changed_data:
            model_version_set_weight(version=obj, weight=form.cleaned_data["weight"], audit=_audit(request))
        obj.refresh_from_db()

    # permissions: without them Django offers actions to anyone who may view the list.
    @admin.action(description="Activate for new cases of their task", permissions=["change"])
    def activate(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        for version in queryset:
            model_version_activate(version=version, audit=_audit(request))
        messages.success(request, f"{queryset.count()} version(s) active.")

    @admin.action(description="Retire (stop using for new cases)", permissions=["change"])
    def retire(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        for version in queryset:
            model_version_retire(version=version, audit=_audit(request))
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
