"""Admin for labelled examples: browse with thumbnails and filters; include/exclude only through the service."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from cases.admin import ReadOnlyAdmin
from cases.models import AuditSource
from cases.services.audit import AuditContext
from curation.models import Example
from curation.selectors import can_curate
from curation.services.examples import examples_set_included


class ExclusionReasonForm(forms.Form):
    reason = forms.CharField(
        label="Reason", max_length=500, strip=True, widget=forms.TextInput(attrs={"size": 60})
    )


@admin.register(Example)
class ExampleAdmin(ReadOnlyAdmin):
    """Read-only rows (the readings and the base import write them); the two actions are the only changes."""

    list_display = [
        "thumbnail",
        "image_id",
        "label_shown",
        "provenance",
        "disagreement",
        "task",
        "site",
        "model_version",
        "group",
        "labelled_at",
        "included",
        "exclusion_reason",
    ]
    list_display_links = ["image_id"]
    list_filter = ["task", "label", "provenance", "disagreement", "included", "site", "model_version"]
    list_select_related = ["site"]
    date_hierarchy = "labelled_at"
    search_fields = ["group", "source_path", "label", "exclusion_reason", "=image__id", "=case__id"]
    actions = ["include_examples", "exclude_examples"]
    readonly_fields = [f.name for f in Example._meta.fields] + ["thumbnail"]

    @admin.display(description="Image")
    def thumbnail(self, obj: Example) -> str:
        return format_html(
            '<img src="{}" alt="" width="48" height="48" style="object-fit:contain;background:#000">',
            reverse("cases:image_thumbnail", args=[obj.image_id]),
        )

    @admin.display(description="Final label", ordering="label")
    def label_shown(self, obj: Example) -> str:
        return obj.label or "non-diagnostic"

    def has_curate_permission(self, request: HttpRequest) -> bool:
        return can_curate(request.user)  # type: ignore[arg-type]

    @admin.action(description="Include the selected images in snapshots", permissions=["curate"])
    def include_examples(self, request: HttpRequest, queryset: QuerySet[Example]) -> None:
        changed = examples_set_included(examples=queryset, included=True, audit=_audit(request))
        messages.success(request, f"{len(changed)} image(s) included.")

    @admin.action(description="Exclude the selected images (asks for a reason)", permissions=["curate"])
    def exclude_examples(self, request: HttpRequest, queryset: QuerySet[Example]) -> HttpResponse | None:
        form = ExclusionReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            changed = examples_set_included(
                examples=queryset, included=False, reason=form.cleaned_data["reason"], audit=_audit(request)
            )
            messages.success(request, f"{len(changed)} image(s) excluded.")
            return None
        # The intermediate page: the reason, with the selection carried along.
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": "Exclude labelled images",
            "opts": self.model._meta,
            "form": form,
            "examples": queryset,
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/curation/example/exclude_reason.html", context)


def _audit(request: HttpRequest) -> AuditContext:
    return AuditContext.from_request(request, source=AuditSource.WEB)
