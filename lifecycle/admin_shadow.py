"""Admin for shadow runs: read-only (the Curator's shadow pages start and stop them, through the services).

Only staff with the view permission see these (the Curator role); readers never do.
"""

from __future__ import annotations

from django.contrib import admin

from cases.admin import ReadOnlyAdmin
from lifecycle.models import ShadowDeployment, ShadowPrediction


@admin.register(ShadowDeployment)
class ShadowDeploymentAdmin(ReadOnlyAdmin):
    list_display = ["id", "task", "candidate", "started_at", "started_by", "stopped_at", "stopped_by"]
    list_filter = ["task", ("stopped_at", admin.EmptyFieldListFilter)]
    list_select_related = ["candidate", "started_by", "stopped_by"]
    search_fields = ["candidate__name", "candidate__version", "note"]


@admin.register(ShadowPrediction)
class ShadowPredictionAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "deployment",
        "image",
        "model_version",
        "status",
        "label",
        "confidence",
        "finished_at",
    ]
    list_filter = ["status", "deployment__task"]
    list_select_related = ["deployment__candidate", "model_version"]
    search_fields = ["label", "error"]
    raw_id_fields = ["deployment", "image", "model_version"]
