"""Reads of shadow deployments for the Curator's pages and the command: lists, counts and the comparison.

Only Curator-facing code imports this module; no reader-facing page, API view,
webhook or summary reads :class:`~lifecycle.models.ShadowPrediction`.

The comparison takes the deployment's finished shadow results and, for each
image, the champion's result (the newest finished clinical prediction of the
image by a model of the deployment's task: what the readers were shown) and
the final label (the image's :class:`curation.models.Example`, which follows
the final readings). Left out, and counted: images still waiting for a final
label, non-diagnostic images, images the Curator excluded from the labelled
data, and images whose clinical prediction did not finish.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, F, Q, QuerySet

from cases.models import Image
from cases.task_registry import task_classes, task_label
from curation.models import Example
from inference.models import ModelVersion, Prediction
from lifecycle.models import ShadowDeployment, ShadowPrediction
from oncocore.champion_challenger import compare

#: At most this many disagreeing images listed on the page.
DISCORDANT_LIMIT = 50

Status = ShadowPrediction.Status


def shadow_list() -> QuerySet[ShadowDeployment]:
    """Every deployment, running first then newest, with its results counted by status."""
    return (
        ShadowDeployment.objects.select_related("candidate", "started_by", "stopped_by")
        .annotate(
            n_done=Count("predictions", filter=Q(predictions__status=Status.DONE)),
            n_waiting=Count("predictions", filter=Q(predictions__status__in=[Status.QUEUED, Status.RUNNING])),
            n_failed=Count("predictions", filter=Q(predictions__status=Status.FAILED)),
        )
        # Running ones (no stop time) first, then the most recently stopped.
        .order_by(F("stopped_at").desc(nulls_first=True), "-started_at", "-pk")
    )


def shadow_candidates() -> QuerySet[ModelVersion]:
    """Versions a shadow run can start for: registered (not active, not retired), not already in shadow."""
    running = ShadowDeployment.objects.filter(stopped_at__isnull=True).values("candidate_id")
    return ModelVersion.objects.filter(status=ModelVersion.Status.REGISTERED).exclude(pk__in=running)


@dataclass
class ShadowComparison:
    """What the shadow page and ``manage.py shadow status`` show for one deployment."""

    deployment: ShadowDeployment
    champions: list[str]
    classes: list[str]
    figures: dict[str, Any] | None
    counts: dict[str, int]
    discordant: list[dict[str, Any]] = field(default_factory=list)

    @property
    def task_label(self) -> str:
        return task_label(self.deployment.task)


def shadow_comparison(*, deployment: ShadowDeployment) -> ShadowComparison:
    """Champion and candidate against the final labels on the deployment's finished shadow results."""
    task = deployment.task
    shadow = dict(
        ShadowPrediction.objects.filter(deployment=deployment, status=Status.DONE).values_list(
            "image_id", "label"
        )
    )
    counts = {
        "queued": ShadowPrediction.objects.filter(
            deployment=deployment, status__in=[Status.QUEUED, Status.RUNNING]
        ).count(),
        "failed": ShadowPrediction.objects.filter(deployment=deployment, status=Status.FAILED).count(),
        "done": len(shadow),
    }
    # The champion's result of each image: the newest finished prediction of a model of this task
    # (the highest id, as the case page and the review form read it).
    champion: dict[int, tuple[str, str]] = {}
    for image_id, label, name, version in (
        Prediction.objects.filter(
            image_id__in=list(shadow), status=Prediction.Status.DONE, model_version__task=task
        )
        .order_by("image_id", "pk")
        .values_list("image_id", "label", "model_version__name", "model_version__version")
    ):
        champion[image_id] = (label, f"{name}@{version}")
    examples = {
        e["image_id"]: e
        for e in Example.objects.filter(image_id__in=list(shadow)).values(
            "image_id", "label", "task", "included"
        )
    }
    classes = task_classes(task) or list(deployment.candidate.class_names)
    truth: list[str] = []
    champ: list[str] = []
    cand: list[str] = []
    used: list[int] = []
    waiting = non_diagnostic = excluded = no_champion = other_task = 0
    for image_id in sorted(shadow):
        example = examples.get(image_id)
        if example is None:
            waiting += 1
        elif example["task"] != task or (example["label"] and example["label"] not in classes):
            other_task += 1  # the case's task changed after the shadow result: not this task's label
        elif example["label"] == "":
            non_diagnostic += 1
        elif not example["included"]:
            excluded += 1
        elif image_id not in champion:
            no_champion += 1
        else:
            truth.append(example["label"])
            champ.append(champion[image_id][0])
            cand.append(shadow[image_id])
            used.append(image_id)
    counts.update(
        compared=len(used),
        waiting_for_label=waiting,
        non_diagnostic=non_diagnostic,
        excluded=excluded,
        no_champion_result=no_champion,
        other_task=other_task,
    )
    figures = compare(truth, champ, cand, classes) if used else None
    discordant = _discordant(used, truth, champ, cand)
    champions = sorted({champion[i][1] for i in used})
    return ShadowComparison(deployment, champions, classes, figures, counts, discordant)


def _discordant(used: list[int], truth: list[str], champ: list[str], cand: list[str]) -> list[dict[str, Any]]:
    """The images where champion and candidate disagree (the discordant pairs first), with their case."""
    rows = [
        (image_id, t, a, b) for image_id, t, a, b in zip(used, truth, champ, cand, strict=True) if a != b
    ][:DISCORDANT_LIMIT]
    cases = dict(Image.objects.filter(pk__in=[r[0] for r in rows]).values_list("pk", "case_id"))
    out = [
        {
            "image": image_id,
            "case": cases.get(image_id),
            "final": t,
            "champion": a,
            "candidate": b,
            "winner": "champion" if a == t else "candidate" if b == t else "",
        }
        for image_id, t, a, b in rows
    ]
    return sorted(out, key=lambda r: (r["winner"] == "", r["image"]))
