"""Reads of predictions, scoped to what the user may see."""

from __future__ import annotations

from cases.models import User
from cases.selectors import case_list_for_user
from inference.models import Prediction


def prediction_for_user(*, user: User, prediction_id: int) -> Prediction:
    """One prediction of a case the user may see; raises Prediction.DoesNotExist otherwise."""
    return Prediction.objects.select_related("image", "model_version").get(
        pk=prediction_id, image__case__in=case_list_for_user(user=user).values("pk")
    )
