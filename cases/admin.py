"""Django admin for dataset curation. Clinical history (images, audit, intake) is read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpRequest
from django.utils.html import format_html

from cases.models import (
    Adjudication,
    AuditEvent,
    AuditSource,
    Case,
    Image,
    IntakeBatch,
    Patient,
    Review,
    ReviewPolicy,
    Series,
    Site,
    Study,
    User,
)
from cases.services.audit import AuditContext
from cases.services.case import case_edit


class ReadOnlyAdmin(admin.ModelAdmin):
    """History must not be edited: view only, no add, change or delete."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "created_at"]
    search_fields = ["code", "name"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "email", "site", "is_staff", "is_active", "last_login"]
    list_filter = ["site", "groups", "is_staff", "is_active"]
    # The stubs type the base attribute as optional; Django's UserAdmin always sets it.
    fieldsets = (*(BaseUserAdmin.fieldsets or ()), ("OncoPortal", {"fields": ("site",)}))
    add_fieldsets = (*BaseUserAdmin.add_fieldsets, ("OncoPortal", {"fields": ("site", "groups")}))


@admin.register(Patient)
class PatientAdmin(ReadOnlyAdmin):
    list_display = ["pseudonym", "sex", "created_at"]
    search_fields = ["pseudonym"]


class SeriesInline(admin.TabularInline):
    model = Series
    extra = 0
    # A tuple of str fits both attributes' declared types (a list would be invariant).
    fields = readonly_fields = ("series_instance_uid", "modality", "body_part", "series_number")
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Study)
class StudyAdmin(ReadOnlyAdmin):
    list_display = [
        "study_instance_uid",
        "site",
        "patient",
        "modality",
        "body_part",
        "study_date",
        "created_at",
    ]
    list_filter = ["site", "modality", "is_dicom"]
    search_fields = ["study_instance_uid", "patient__pseudonym"]
    inlines = [SeriesInline]


@admin.register(Series)
class SeriesAdmin(ReadOnlyAdmin):
    list_display = ["series_instance_uid", "study", "modality", "series_number"]
    search_fields = ["series_instance_uid", "study__study_instance_uid"]


@admin.register(Image)
class ImageAdmin(ReadOnlyAdmin):
    list_display = ["id", "thumb", "case", "kind", "rows", "cols", "frames", "photometric", "created_at"]
    list_filter = ["kind", "photometric", "burned_in_annotation"]
    search_fields = ["sop_instance_uid", "sha256"]
    exclude = ["header"]
    readonly_fields = ["thumb"]

    @admin.display(description="Thumbnail")
    def thumb(self, obj: Image) -> str:
        return format_html('<img src="/images/{}/thumbnail.png" height="48" alt="">', obj.pk)


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    """Curators fix task, priority, assignee and flags, through the same services as the case page."""

    list_display = ["id", "site", "task", "status", "priority", "assignee", "flagged", "created_at"]
    list_filter = ["site", "task", "status", "priority", "flagged"]
    search_fields = ["id", "study__study_instance_uid", "study__patient__pseudonym"]
    list_select_related = ["site", "assignee"]
    fields = [
        "site",
        "study",
        "task",
        "task_inferred",
        "task_reason",
        "status",
        "priority",
        "assignee",
        "flagged",
        "flag_reason",
        "failure_reason",
        "created_by",
        "created_at",
        "status_changed_at",
    ]
    readonly_fields = [
        "site",
        "study",
        "task_inferred",
        "task_reason",
        "status",
        "failure_reason",
        "created_by",
        "created_at",
        "status_changed_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # cases come from intake only

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Case, form: Any, change: bool) -> None:
        # Not super(): a task changed here must re-queue predictions and refresh the
        # AI summary exactly as the case page does, so every edit goes through case_edit.
        case_edit(
            case=obj,
            changes={name: form.cleaned_data[name] for name in form.changed_data},
            user=request.user,  # type: ignore[arg-type]
            audit=AuditContext.from_request(request, source=AuditSource.WEB),
        )
        obj.refresh_from_db()


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = [
        "at",
        "actor_username",
        "action",
        "object_type",
        "object_id",
        "site",
        "source",
        "ip_address",
    ]
    list_filter = ["source", "action", "object_type", "site"]
    search_fields = ["actor_username", "object_id", "action"]
    date_hierarchy = "at"


@admin.register(IntakeBatch)
class IntakeBatchAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "source",
        "site",
        "uploaded_by",
        "accepted_count",
        "duplicate_count",
        "rejected_count",
        "created_at",
    ]
    list_filter = ["source", "site"]


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    """The labelled examples, with the AI result each reader saw (read-only: they are the dataset)."""

    list_display = [
        "id",
        "case",
        "image",
        "reviewer",
        "task",
        "decision",
        "label",
        "ai_label",
        "ai_model_version",
        "submitted_at",
    ]
    list_filter = ["task", "decision", "label", "ai_untrained"]
    search_fields = ["case__id", "reviewer__username", "label", "ai_label"]
    list_select_related = ["reviewer"]
    date_hierarchy = "submitted_at"


@admin.register(Adjudication)
class AdjudicationAdmin(ReadOnlyAdmin):
    """Curators' final labels where readers disagreed, with the readings weighed (read-only)."""

    list_display = [
        "id",
        "case",
        "image",
        "curator",
        "task",
        "label",
        "non_diagnostic",
        "ai_label",
        "decided_at",
    ]
    list_filter = ["task", "label", "non_diagnostic"]
    search_fields = ["case__id", "curator__username", "label"]
    list_select_related = ["curator"]
    date_hierarchy = "decided_at"


@admin.register(ReviewPolicy)
class ReviewPolicyAdmin(admin.ModelAdmin):
    """Per task: one reader, or two independent (blinded) readers with adjudication of disagreements."""

    list_display = ["task", "readers_required", "updated_at"]
    list_editable = ["readers_required"]


from cases import admin_routing  # noqa: E402,F401  (the routing rules' admin registers itself)
