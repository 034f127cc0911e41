"""Cases with real predictions (the untrained test model), for the review and adjudication services."""

from __future__ import annotations

import pytest

from cases.models import Case
from inference.pipeline import predictions_run
from inference.services import prediction_request


@pytest.fixture
def predicted(brain_case, random_model, django_capture_on_commit_callbacks, mocker):
    """Two single-image brain cases with predictions from the untrained test model."""
    mocker.patch("inference.services.run_predictions.delay")
    ids = []
    for case in brain_case:
        with django_capture_on_commit_callbacks(execute=True):
            ids += [p.pk for p in prediction_request(case=case)]
    predictions_run(prediction_ids=ids)
    return list(Case.objects.filter(pk__in=brain_case.values("pk")).order_by("created_at"))
