"""Reads of model versions and predictions; predictions scoped to what the user may see."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Subquery

from cases.models import User
from cases.selectors import case_list_for_user
from inference.models import ModelVersion, Prediction


def active_ensemble(*, task: str) -> list[ModelVersion]:
    """The task's active ensemble, lead member first (highest weight, then oldest); empty if none."""
    return list(
        ModelVersion.objects.filter(task=task, status=ModelVersion.Status.ACTIVE).order_by("-weight", "pk")
    )


def prediction_for_user(*, user: User, prediction_id: int) -> Prediction:
    """One prediction of a case the user may see; raises Prediction.DoesNotExist otherwise."""
    return Prediction.objects.select_related("image", "model_version").get(
        pk=prediction_id, image__case__in=case_list_for_user(user=user).values("pk")
    )


def case_has_finding(*, label: str) -> Exists:
    """A condition on cases: some image's newest finished prediction says ``label`` (filter cases with it).

    One EXISTS per case over its images' predictions, so filtering a worklist
    page costs no join that multiplies rows; "newest" is the highest id, as
    review forms read it (``cases.services.review``).
    """
    newest_done = (
        Prediction.objects.filter(image_id=OuterRef("image_id"), status=Prediction.Status.DONE)
        .order_by("-pk")
        .values("pk")[:1]
    )
    return Exists(
        Prediction.objects.filter(
            image__case_id=OuterRef("pk"),
            status=Prediction.Status.DONE,
            label=label,
            pk=Subquery(newest_done),
        )
    )
