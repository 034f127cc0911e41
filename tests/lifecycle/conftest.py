"""Fixtures of the lifecycle tests: brain MRI cases with a stored AI result, read through the real review services."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

# The Chromium fixtures, for the Analytics tab's browser test (test_analytics_browser.py).
from tests.browser.conftest import artifacts, chromium, page  # noqa: F401

BRAIN = ["glioma", "meningioma", "notumor", "pituitary"]


def _version(name: str, version: str):
    from inference.models import ModelVersion

    return ModelVersion.objects.create(
        name=name,
        version=version,
        task="brain_mri",
        arch="tiny",
        bundle_path=f"/bundles/{name}-{version}",
        weights_sha256="0" * 64,
        class_names=BRAIN,
        card={},
        status=ModelVersion.Status.ACTIVE,
    )


@pytest.fixture
def v1(db):
    """A brain model version (rows only: these tests store its results, they never run it)."""
    return _version("brain-a", "1")


@pytest.fixture
def v2(db):
    return _version("brain-b", "2")


@pytest.fixture
def ai_case(make_case, site) -> Callable[..., object]:
    """``ai_case(ai_label, version)``: a one-image brain case with a finished prediction of that label.

    ``ai_label=None`` leaves the case without any AI result; ``""`` stores an
    out-of-scope result (no class). ``finished_at`` sets when the result came.
    """
    from inference.models import Prediction

    def _make(ai_label: str | None, version=None, *, finished_at: datetime | None = None):
        case = make_case(site, task="brain_mri", status="received" if ai_label is None else "predicted")
        if ai_label is not None:
            top = ai_label or "notumor"
            probabilities = {name: (0.7 if name == top else 0.1) for name in BRAIN}
            Prediction.objects.create(
                image=case.images.get(),
                model_version=version,
                status=Prediction.Status.DONE,
                label=ai_label,
                confidence=0.7 if ai_label else None,
                probabilities=probabilities,
                in_scope=bool(ai_label),
                scope_ratio=0.5 if ai_label else 1.8,
                finished_at=finished_at or timezone.now(),
            )
        return case

    return _make


@pytest.fixture
def read(django_capture_on_commit_callbacks) -> Callable[..., object]:
    """``read(case, reader, label)`` through review_submit ('' is non-diagnostic), after-commit listeners run
    (so the labelled example follows)."""
    from cases.services.review import review_submit

    def _read(case, reader, label: str):
        with django_capture_on_commit_callbacks(execute=True):
            return review_submit(
                case=case,
                image=case.images.get(),
                reviewer=reader,
                label=label,
                non_diagnostic=label == "",
            )

    return _read


@pytest.fixture
def adjudicate(django_capture_on_commit_callbacks, curator) -> Callable[..., object]:
    from cases.services.adjudication import adjudication_submit

    def _adjudicate(case, label: str):
        with django_capture_on_commit_callbacks(execute=True):
            return adjudication_submit(case=case, image=case.images.get(), curator=curator, label=label)

    return _adjudicate


@pytest.fixture
def second_reviewer(make_user, site):
    return make_user("rev2", "Reviewer", site)


def at(day: datetime, hours: float) -> datetime:
    return day + timedelta(hours=hours)
