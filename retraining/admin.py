"""Admin for training jobs: read-only, with Cancel through the service (the Curator page starts jobs)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from cases.admin import ReadOnlyAdmin
from cases.models import AuditSource
from cases.services.audit import AuditContext
from oncoportal.exceptions import DomainError
from retraining.models import TrainingJob
from retraining.services.jobs import job_cancel


@admin.register(TrainingJob)
class TrainingJobAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "task", "snapshot", "mode", "recipe", "status", "phase", "epoch", "epochs", "attempts",
        "result_version", "created_at",
    ]  # fmt: skip
    list_filter = ["status", "task", "mode", "recipe"]
    list_select_related = ["snapshot", "result_version"]
    search_fields = ["snapshot__name", "worker", "error"]
    actions = ["cancel"]

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        # The change permission, though the rows are read-only here: cancelling is the one change.
        return request.user.has_perm("retraining.change_trainingjob")

    @admin.action(
        description="Cancel (queued: at once; running: the trainer is stopped)", permissions=["cancel"]
    )
    def cancel(self, request: HttpRequest, queryset: QuerySet[TrainingJob]) -> None:
        audit = AuditContext.from_request(request, source=AuditSource.WEB)
        done = 0
        for job in queryset:
            try:
                job_cancel(job=job, audit=audit)
                done += 1
            except DomainError as exc:
                messages.warning(request, f"Job {job.pk}: {exc.message}")
        if done:
            messages.success(request, f"{done} job(s) cancelled or cancelling.")
