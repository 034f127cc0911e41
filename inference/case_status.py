"""A case's status and AI summary, derived from the newest prediction of each of its images.

The worker refreshes them after each run (``inference.pipeline``), the sweeper
for cases left behind (``inference.sweep``), and a task change for the summary.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cases.models import Case, CaseStatus
from cases.services.case import cases_set_ai_summaries, study_order_key
from cases.services.events import CASE_FAILED, PREDICTION_COMPLETED, case_event_send
from cases.services.lifecycle import case_set_status, cases_set_status_moved
from inference.models import Prediction
from oncocore.study_result import ImageOutcome


def case_refresh_status(*, case_id: int) -> str | None:
    """Derive the case status from the newest prediction of each image."""
    return cases_refresh_status(case_ids=[case_id]).get(case_id)


def cases_refresh_status(*, case_ids: Sequence[int]) -> dict[int, str]:
    """:func:`case_refresh_status` for many cases, with three reads in all instead of three per case.

    Returns the status set for each case that got one (PREDICTED or FAILED).
    Each case that moves announces it (``prediction.completed`` or
    ``case.failed``) once the transaction commits.
    """
    latest: dict[int, dict[int, _Newest]] = defaultdict(dict)
    for case_id, image_id, status, error, pk, label, confidence, untrained, name, version, in_scope in (
        Prediction.objects.filter(image__case_id__in=case_ids)
        .order_by("image_id", "pk")
        .values_list(
            "image__case_id",
            "image_id",
            "status",
            "error",
            "pk",
            "label",
            "confidence",
            "untrained",
            "model_version__name",
            "model_version__version",
            "in_scope",
        )
    ):
        latest[case_id][image_id] = _Newest(
            status, error, pk, label, confidence, untrained, name, version, in_scope
        )
    _refresh_ai_summaries([case_id for case_id in case_ids if latest.get(case_id)])
    outcome: dict[int, str] = {}
    predicted: list[int] = []
    for case_id in case_ids:
        images = latest.get(case_id)
        if not images:
            continue
        statuses = {p.status for p in images.values()}
        if statuses & {Prediction.Status.QUEUED, Prediction.Status.RUNNING}:
            continue
        if Prediction.Status.FAILED in statuses:
            errors = sorted({p.error for p in images.values() if p.status == Prediction.Status.FAILED})
            reason = "; ".join(errors)
            if case_set_status(case_id=case_id, status=CaseStatus.FAILED, reason=reason):
                case_event_send(event=CASE_FAILED, case_id=case_id, detail={"reason": reason})
            outcome[case_id] = CaseStatus.FAILED
        else:
            predicted.append(case_id)
            outcome[case_id] = CaseStatus.PREDICTED
    # One UPDATE for all of them (after locking those that may move, to announce each once).
    for case_id in cases_set_status_moved(case_ids=predicted, status=CaseStatus.PREDICTED):
        detail = {"predictions": [p.as_event(image_id) for image_id, p in latest[case_id].items()]}
        case_event_send(event=PREDICTION_COMPLETED, case_id=case_id, detail=detail)
    return outcome


@dataclass(frozen=True)
class _Newest:
    """The newest prediction of one image, as the case status and its event need it."""

    status: str
    error: str
    pk: int
    label: str
    confidence: float | None
    untrained: bool
    model_name: str
    model_version: str
    in_scope: bool | None = None

    def as_event(self, image_id: int) -> dict[str, Any]:
        return {
            "id": self.pk,
            "image": image_id,
            "label": self.label,
            "confidence": self.confidence,
            "untrained": self.untrained,
            "in_scope": self.in_scope,
            "model_version": f"{self.model_name}@{self.model_version}",
        }


def case_refresh_ai_summary(*, case_id: int) -> None:
    """Set the case summary (the study result) from the newest finished prediction of each image for its current task."""
    _refresh_ai_summaries([case_id])


def _refresh_ai_summaries(case_ids: Sequence[int]) -> None:
    if not case_ids:
        return
    tasks = dict(Case.objects.filter(pk__in=case_ids).values_list("pk", "task"))
    newest: dict[int, dict[int, tuple[tuple[int, ...], ImageOutcome]]] = defaultdict(dict)
    for (
        case_id,
        image_id,
        series_number,
        series_id,
        instance_number,
        task,
        label,
        confidence,
        probabilities,
        uncertainty,
        untrained,
        in_scope,
    ) in (
        Prediction.objects.filter(image__case_id__in=list(tasks), status=Prediction.Status.DONE)
        .order_by("image_id", "pk")
        .values_list(
            "image__case_id",
            "image_id",
            "image__series__series_number",
            "image__series_id",
            "image__instance_number",
            "model_version__task",
            "label",
            "confidence",
            "probabilities",
            "uncertainty",
            "untrained",
            "in_scope",
        )
    ):
        if task == tasks[case_id]:  # only the case's current task counts; the newest (last) wins
            place = study_order_key(
                series_number=series_number,
                series_id=series_id,
                instance_number=instance_number,
                image_id=image_id,
            )
            outcome = ImageOutcome(
                image_id, label, confidence, probabilities or {}, uncertainty, untrained, in_scope
            )
            newest[case_id][image_id] = (place, outcome)
    cases_set_ai_summaries(
        summaries={
            # In study order: the rule gives ties to the earlier image.
            case_id: (task, [o for _, o in sorted(newest[case_id].values(), key=lambda po: po[0])])
            for case_id, task in tasks.items()
        }
    )
