"""Admin for result objects and their deliveries: the delivery log per object, and Resend.

Registered from ResultsConfig.ready() (results/admin.py holds the destinations'
admin). History is read only; the one change is Resend, through the audited service.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from cases.admin import ReadOnlyAdmin
from cases.models import AuditSource
from cases.services.audit import AuditContext
from results.models import ResultDelivery, ResultObject
from results.services.delivery import deliveries_resend

RESEND_PERMISSION = "results.change_resultdelivery"
INLINE_FIELDS: tuple[str, ...] = (
    "destination", "status", "attempts", "last_status", "last_error", "delivered_at", "log_view",
)  # fmt: skip
DELIVERY_FIELDS: tuple[str, ...] = (
    "result", "destination", "status", "attempts", "last_status", "last_error", "next_attempt_at",
    "created_at", "delivered_at", "log_view",
)  # fmt: skip


def log_table(delivery: ResultDelivery) -> SafeString:
    """The delivery log as a small table, newest last."""
    if not delivery.log:
        return format_html("<em>{}</em>", "no attempt yet")
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                entry.get("at", ""),
                entry.get("attempt", ""),
                entry.get("outcome", ""),
                entry.get("status", ""),
                entry.get("detail", ""),
            )
            for entry in delivery.log
        ),
    )
    return format_html(
        "<table><thead><tr><th>at</th><th>attempt</th><th>outcome</th><th>status</th><th>detail</th>"
        "</tr></thead><tbody>{}</tbody></table>",
        rows,
    )


class ResendMixin:
    """The Resend action, for whoever may change deliveries (the Curator role), whatever the read-only base says."""

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(RESEND_PERMISSION))

    def _resend(self, request: HttpRequest, deliveries: QuerySet[ResultDelivery]) -> None:
        done = deliveries_resend(
            deliveries=deliveries, audit=AuditContext.from_request(request, source=AuditSource.WEB)
        )
        self.message_user(  # type: ignore[attr-defined]
            request, f"{len(done)} delivery(ies) queued to be sent again.", messages.SUCCESS
        )


class ResultDeliveryInline(admin.TabularInline):
    model = ResultDelivery
    extra = 0
    can_delete = False
    fields = INLINE_FIELDS
    readonly_fields = INLINE_FIELDS

    @admin.display(description="log")
    def log_view(self, obj: ResultDelivery) -> SafeString:
        return log_table(obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ResultObject)
class ResultObjectAdmin(ResendMixin, ReadOnlyAdmin):
    list_display = ["created_at", "case", "kind", "series_number", "instance_number", "sop_instance_uid"]
    list_filter = ["kind", "case__site"]
    search_fields = ["sop_instance_uid", "study_instance_uid", "=case__id"]
    list_select_related = ["case"]
    date_hierarchy = "created_at"
    inlines = [ResultDeliveryInline]
    actions = ["resend"]

    @admin.action(description="Resend to every destination it was queued for", permissions=["resend"])
    def resend(self, request: HttpRequest, queryset: QuerySet[ResultObject]) -> None:
        self._resend(request, ResultDelivery.objects.filter(result__in=queryset))


@admin.register(ResultDelivery)
class ResultDeliveryAdmin(ResendMixin, ReadOnlyAdmin):
    list_display = [
        "created_at", "result", "destination", "status", "attempts", "last_status", "last_error",
        "next_attempt_at", "delivered_at",
    ]  # fmt: skip
    list_filter = ["status", "destination"]
    search_fields = ["result__sop_instance_uid", "=result__case__id"]
    list_select_related = ["result", "destination"]
    date_hierarchy = "created_at"
    fields = DELIVERY_FIELDS
    readonly_fields = DELIVERY_FIELDS
    actions = ["resend"]

    @admin.display(description="delivery log")
    def log_view(self, obj: ResultDelivery) -> SafeString:
        return log_table(obj)

    @admin.action(description="Resend (back to pending, a fresh retry schedule)", permissions=["resend"])
    def resend(self, request: HttpRequest, queryset: QuerySet[ResultDelivery]) -> None:
        self._resend(request, queryset)
