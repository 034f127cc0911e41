"""Fixtures of the curation tests: examples built through the real review services, or as plain rows."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

# The Chromium fixtures, for the Curator page's browser test (test_images_browser.py).
from tests.browser.conftest import artifacts, chromium, page  # noqa: F401


@pytest.fixture
def double_read(db):
    from cases.models import ReviewPolicy, Task

    return ReviewPolicy.objects.create(task=Task.BRAIN_MRI, readers_required=2)


@pytest.fixture
def second_reviewer(make_user, site):
    return make_user("rev2", "Reviewer", site)


@pytest.fixture
def review(django_capture_on_commit_callbacks) -> Callable[..., object]:
    """``review(case, reviewer, label=..., non_diagnostic=...)`` through review_submit, after-commit listeners run."""
    from cases.services.review import review_submit

    def _review(case, reviewer, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return review_submit(case=case, image=case.images.get(), reviewer=reviewer, **kwargs)

    return _review


def other_label(image) -> str:
    """A class the image's prediction did not choose."""
    prediction = image.predictions.get()
    return next(name for name in prediction.probabilities if name != prediction.label)


@pytest.fixture
def make_example(make_case) -> Callable[..., object]:
    """An Example row on an ORM-only case (no files): ``make_example(site, label=..., provenance=..., ...)``."""
    from curation.models import Example

    counter = itertools.count(1)

    def _make(site, *, task: str = "lung_ct", labelled_at: datetime | None = None, **fields):
        case = make_case(site, task=task, status="reviewed")
        n = next(counter)
        defaults = {
            "label": "benign",
            "provenance": "ai_confirmed",
            "group": f"case-{case.pk}",
            "readers": 1,
            "model_version": "lung-tiny@1",
        }
        return Example.objects.create(
            image=case.images.get(),
            case=case,
            site=site,
            task=task,
            labelled_at=labelled_at or timezone.now() - timedelta(minutes=n),
            **{**defaults, **fields},
        )

    return _make
