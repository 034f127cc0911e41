"""Admin for result destinations (Curators). Changes go through the services, so they are checked and audited."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from cases.admin import ReadOnlyAdmin
from cases.models import AuditSource
from cases.services.audit import AuditContext
from oncoportal.exceptions import InvalidInput
from results.models import Destination, StudyIdentity
from results.services.connection import destination_test
from results.services.destinations import (
    DestinationFields,
    destination_check,
    destination_create,
    destination_delete,
    destination_update,
    studies_of_site_without_identity,
)

FIELD_NAMES = [f.name for f in fields(DestinationFields)]
NOT_RECOVERABLE = (
    "The patient's identity is kept (encrypted) only for studies received while an active destination "
    "covers their site. Studies received before cannot be re-identified: nothing was kept for them, "
    "so their results cannot be filed under the hospital's patient."
)


def _audit(request: HttpRequest) -> AuditContext:
    return AuditContext.from_request(request, source=AuditSource.WEB)


class DestinationForm(forms.ModelForm):
    url = forms.URLField(
        max_length=500,
        required=False,
        assume_scheme="https",
        help_text="The DICOMweb base URL; objects are POSTed to <url>/studies.",
    )
    secret = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        label="Password or token",
        help_text="HTTP Basic password or bearer token; stored encrypted and never shown again. "
        "Leave empty to keep the one stored.",
    )

    class Meta:
        model = Destination
        fields = [*FIELD_NAMES]
        help_texts = {"site": f"Only this site's studies; empty for every site. {NOT_RECOVERABLE}"}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        instance: Destination = self.instance
        has_secret = bool(data.get("secret")) or bool(instance.pk and instance.secret_encrypted)
        try:
            destination_check(self.values(), has_secret=has_secret)
        except InvalidInput as exc:
            raise forms.ValidationError(exc.message) from None
        return data

    def values(self) -> DestinationFields:
        given: dict[str, Any] = {name: self.cleaned_data.get(name) for name in FIELD_NAMES}
        return DestinationFields(**given)


@admin.register(Destination)
class DestinationAdmin(admin.ModelAdmin):
    form = DestinationForm
    list_display = [
        "name",
        "site",
        "kind",
        "address",
        "auth",
        "send_ai_results",
        "send_review_results",
        "is_active",
    ]
    list_filter = ["kind", "is_active", "site"]
    search_fields = ["name", "ae_title", "host", "url"]
    readonly_fields = ["created_by", "created_at"]
    actions = ["test_connection"]
    fieldsets = [
        (None, {"fields": ["name", "site", "kind", "is_active", "send_ai_results", "send_review_results"]}),
        ("DIMSE (C-STORE)", {"fields": ["ae_title", "host", "port", "calling_ae_title"]}),
        ("DICOMweb (STOW-RS)", {"fields": ["url", "auth", "username", "secret"]}),
        ("Re-identification", {"fields": [], "description": NOT_RECOVERABLE}),
    ]

    def save_model(self, request: HttpRequest, obj: Destination, form: Any, change: bool) -> None:
        values: DestinationFields = form.values()
        secret = form.cleaned_data.get("secret") or ""
        user = request.user  # the admin is for signed-in staff
        try:
            if change:
                current = Destination.objects.get(pk=obj.pk)
                saved = destination_update(
                    destination=current,
                    values=values,
                    secret=secret or None,
                    by=user,  # type: ignore[arg-type]
                    audit=_audit(request),
                )
            else:
                saved = destination_create(
                    values=values,
                    secret=secret,
                    created_by=user,  # type: ignore[arg-type]
                    audit=_audit(request),
                )
        except InvalidInput as exc:
            # The form checked the same rules; a race (a name taken meanwhile) is the only way here.
            messages.error(request, exc.message)
            return
        obj.pk = saved.pk
        obj.secret_encrypted = saved.secret_encrypted
        if not change and saved.site is not None:
            before = studies_of_site_without_identity(site=saved.site)
            if before:
                messages.warning(
                    request,
                    f"{before} study(ies) of {saved.site} were received before this destination: "
                    "their results cannot be re-identified.",
                )

    def delete_model(self, request: HttpRequest, obj: Destination) -> None:
        forgotten = destination_delete(destination=obj, by=request.user, audit=_audit(request))  # type: ignore[arg-type]
        if forgotten:
            messages.info(
                request, f"No destination covers their site any more: {forgotten} identity(ies) deleted."
            )

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Destination]) -> None:
        for destination in queryset:  # one audited delete each, as from the change page
            self.delete_model(request, destination)

    @admin.action(description="Test connection (C-ECHO / QIDO)", permissions=["change"])
    def test_connection(self, request: HttpRequest, queryset: QuerySet[Destination]) -> None:
        for destination in queryset:
            outcome = destination_test(destination=destination, by=request.user, audit=_audit(request))  # type: ignore[arg-type]
            level = messages.SUCCESS if outcome.ok else messages.ERROR
            self.message_user(request, f"{destination.name}: {outcome.message}", level)


@admin.register(StudyIdentity)
class StudyIdentityAdmin(ReadOnlyAdmin):
    """Which studies have a kept identity; the identity itself is never shown."""

    list_display = ["study", "created_at", "updated_at"]
    fields = ["study", "created_at", "updated_at"]
    list_select_related = ["study"]


# Result objects and their deliveries (with Resend) live in their own module.
from results import admin_deliveries  # noqa: E402, F401
