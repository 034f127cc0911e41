"""Admin for the API: tokens (issued and revoked through the services, never edited or deleted)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from api.models import ApiToken, Scope
from api.services.tokens import MAX_LIFETIME, parse_scopes, token_create, token_revoke
from cases.models import AuditSource, User
from cases.services.audit import AuditContext
from oncoportal.exceptions import InvalidInput

# --- API tokens ---------------------------------------------------------------


def _web_audit(request: HttpRequest) -> AuditContext:
    return AuditContext.from_request(request, source=AuditSource.WEB)


class ApiTokenCreateForm(forms.ModelForm):
    """The add form: who the token acts as, what for, what it may do, how long, how fast."""

    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="What the token may do; the account's role and site still decide what it may see.",
    )
    days = forms.IntegerField(
        label="Lifetime (days)",
        min_value=1,
        max_value=MAX_LIFETIME.days,
        help_text=f"The token stops working after this many days (at most {MAX_LIFETIME.days}).",
    )

    class Meta:
        model = ApiToken
        fields = ["user", "name", "scopes", "days", "rate_per_minute"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["days"].initial = settings.API_TOKEN_DEFAULT_DAYS
        self.fields["user"].queryset = User.objects.filter(is_active=True).order_by("username")  # type: ignore[attr-defined]
        self.fields["rate_per_minute"].min_value = 1  # type: ignore[attr-defined]

    def clean_scopes(self) -> list[str]:
        # The service's own check, so the form says what the service would refuse.
        try:
            return parse_scopes(self.cleaned_data["scopes"])
        except InvalidInput as exc:
            raise forms.ValidationError(exc.message) from None


class TokenStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> QuerySet[ApiToken]:
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(revoked_at=None, expires_at__gt=now)
        if self.value() == "expired":
            return queryset.filter(revoked_at=None, expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(~Q(revoked_at=None))
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Curators issue tokens (the value is shown once) and revoke them; revoked tokens stay for the trail."""

    list_display = [
        "name", "user", "prefix", "scope_list", "state", "created_at", "expires_at", "last_used_at",
        "last_used_ip",
    ]  # fmt: skip
    list_filter = [TokenStateFilter, "user"]
    search_fields = ["name", "prefix"]
    list_select_related = ["user"]
    actions = ["revoke"]
    shown = [
        "name", "user", "prefix", "scope_list", "rate_per_minute", "state", "created_by", "created_at",
        "expires_at", "last_used_at", "last_used_ip", "revoked_at", "revoked_by",
    ]  # fmt: skip

    @admin.display(description="Scopes")
    def scope_list(self, obj: ApiToken) -> str:
        return ", ".join(obj.scopes)

    @admin.display(description="State")
    def state(self, obj: ApiToken) -> str:
        return obj.state

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ApiTokenCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return list(ApiTokenCreateForm.Meta.fields) if obj is None else self.shown

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else self.shown

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Nothing about an issued token is edited: its page is read-only, and the
        # change permission only unlocks the Revoke action on the list.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the row stays for the audit trail

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        # Not super(): the service makes the secret, stores its digest and audits the issue.
        data = form.cleaned_data
        issued = token_create(
            user=data["user"],
            name=data["name"],
            scopes=data["scopes"],
            expires_in=timedelta(days=data["days"]),
            rate_per_minute=data["rate_per_minute"],
            created_by=request.user,  # type: ignore[arg-type]
            audit=_web_audit(request),
        )
        # The admin goes on with ``obj`` (its change message, the redirect): make it the new row.
        for field in ApiToken._meta.concrete_fields:
            setattr(obj, field.attname, getattr(issued.token, field.attname))
        obj._state.adding = False
        messages.warning(request, f"Copy it now: it is not shown again: {issued.value}")

    @admin.action(description="Revoke (the token stops working now)", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = 0
        for token in queryset.filter(revoked_at=None):
            token_revoke(token=token, by=request.user, audit=_web_audit(request))  # type: ignore[arg-type]
            revoked += 1
        messages.success(request, f"{revoked} token(s) revoked.")
