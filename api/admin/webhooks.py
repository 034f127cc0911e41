"""Admin for the REST API's own objects. Changes go through the services, so they are checked and audited."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from api.models import WebhookDelivery, WebhookEvent, WebhookSubscription
from api.models.webhooks import SUBSCRIBABLE_EVENTS
from api.services.webhooks import webhook_create, webhook_delete, webhook_enable, webhook_update
from cases.admin import ReadOnlyAdmin
from cases.models import AuditSource
from cases.services.audit import AuditContext
from oncoportal.exceptions import InvalidInput


# --- Webhooks ---------------------------------------------------------------------------------
def _webhook_audit(request: HttpRequest) -> AuditContext:
    return AuditContext.from_request(request, source=AuditSource.WEB)


class WebhookSubscriptionForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https", help_text="Where deliveries are POSTed.")
    events = forms.MultipleChoiceField(
        choices=[(e, WebhookEvent(e).label) for e in SUBSCRIBABLE_EVENTS],
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = WebhookSubscription
        fields = ["name", "url", "events", "site", "is_active"]
        help_texts = {
            "is_active": "Ticking it re-enables a disabled subscription and clears its failure record."
        }


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookSubscriptionForm
    list_display = [
        "name", "url", "site", "event_list", "is_active", "disabled_reason", "last_success_at", "failing_since",
    ]  # fmt: skip
    list_filter = ["is_active", "site"]
    search_fields = ["name", "url"]
    readonly_fields = [
        "created_by", "created_at", "failing_since", "disabled_at", "disabled_reason", "last_success_at",
    ]  # fmt: skip
    actions = ["re_enable"]

    @admin.display(description="events")
    def event_list(self, obj: WebhookSubscription) -> str:
        return ", ".join(obj.events)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = ["name", "url", "events", "site"]
        return [*fields, "is_active", *self.readonly_fields] if obj is not None else fields

    def save_model(self, request: HttpRequest, obj: WebhookSubscription, form: Any, change: bool) -> None:
        data = form.cleaned_data
        try:
            if change:
                saved = webhook_update(
                    subscription=obj,
                    by=request.user,  # type: ignore[arg-type]  # the admin is for signed-in staff
                    audit=_webhook_audit(request),
                    name=data["name"],
                    url=data["url"],
                    events=data["events"],
                    site=data["site"],
                    is_active=data["is_active"],
                )
            else:
                saved = webhook_create(
                    name=data["name"],
                    url=data["url"],
                    events=data["events"],
                    site=data["site"],
                    created_by=request.user,  # type: ignore[arg-type]
                    audit=_webhook_audit(request),
                )
                messages.warning(
                    request,
                    f"The secret that signs this subscription's deliveries is {saved.secret} — "
                    "copy it into the receiver now: it is not shown again.",
                )
        except InvalidInput as exc:
            # The form checked the same rules; a race is the only way here.
            messages.error(request, exc.message)
            return
        obj.pk, obj.secret = saved.pk, saved.secret

    def delete_model(self, request: HttpRequest, obj: WebhookSubscription) -> None:
        webhook_delete(subscription=obj, by=request.user, audit=_webhook_audit(request))  # type: ignore[arg-type]

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]) -> None:
        for subscription in queryset:  # one audited delete each, as from the change page
            self.delete_model(request, subscription)

    @admin.action(description="Re-enable (clears the failure record)", permissions=["change"])
    def re_enable(self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]) -> None:
        count = 0
        for subscription in queryset.filter(is_active=False):
            webhook_enable(subscription=subscription, by=request.user, audit=_webhook_audit(request))  # type: ignore[arg-type]
            count += 1
        self.message_user(request, f"{count} subscription(s) enabled again.", messages.SUCCESS)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at", "subscription", "event", "status", "attempts", "last_status_code", "last_error",
        "next_attempt_at", "delivered_at",
    ]  # fmt: skip
    list_filter = ["status", "event", "subscription"]
    search_fields = ["event_id"]
    list_select_related = ["subscription"]
    date_hierarchy = "created_at"
