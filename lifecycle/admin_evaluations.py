"""Evaluations in the admin: read-only (the Curator page and `manage.py evaluate_model` start them)."""

from __future__ import annotations

from django.contrib import admin

from cases.admin import ReadOnlyAdmin
from lifecycle.models import Evaluation


@admin.register(Evaluation)
class EvaluationAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "task", "candidate", "champion", "snapshot", "split", "status", "created_by", "created_at",
        "finished_at",
    ]  # fmt: skip
    list_filter = ["status", "task", "split"]
    list_select_related = ["candidate", "champion", "snapshot", "created_by"]
    search_fields = ["candidate__name", "candidate__version", "snapshot__name", "error"]
    exclude = ["results"]  # per-image rows: long; the Curator page shows them as figures
    readonly_fields = ["results_summary"]

    @admin.display(description="Results")
    def results_summary(self, obj: Evaluation) -> str:
        sides = obj.results.get("sides", {})
        parts = [
            f"{side} {data['label']}: accuracy {data['metrics']['accuracy']:.3f}, "
            f"macro-F1 {data['metrics']['macro_f1']:.3f}"
            for side, data in sides.items()
        ]
        paired = obj.results.get("paired")
        if paired:
            parts.append(f"McNemar b={paired['b']} c={paired['c']} p={paired['p_value']:.3g}")
        return "; ".join(parts) or "-"
