"""Fixtures of the curation tests: examples built through the real review services, or as plain rows,
or over images stored by the normal intake (the snapshot tests)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

# The Chromium fixtures, for the Curator page's browser test (test_images_browser.py).
from tests.browser.conftest import artifacts, chromium, page  # noqa: F401

BRAIN = ("glioma", "meningioma", "notumor", "pituitary")


@pytest.fixture
def store_examples(data_dir: Path, site, radiologist) -> Callable[..., list]:
    """``store_examples({class: [group, ...]}, provenance=..., task=...)``: one real image per entry.

    Each image is a distinct brain MRI JPEG of that class, run through
    ``intake_sources``; its Example has the given group and provenance.
    Returns the Examples in the order given.
    """
    from cases.models import Image
    from cases.services.intake import intake_sources
    from curation.models import Example, Provenance

    used: dict[str, int] = {}

    def _store(
        groups: dict[str, list[str]], *, provenance: str = Provenance.CORRECTED, task: str = "brain_mri"
    ):
        out = []
        for label, names in groups.items():
            files = sorted((data_dir / "brain_mri" / "train" / label).glob("*.jpg"))
            start = used.get(label, 0)
            used[label] = start + len(names)
            for path, group in zip(files[start : start + len(names)], names, strict=True):
                report = intake_sources(
                    uploads=[(path.name, path.read_bytes())],
                    site=site,
                    user=radiologist,
                    source="web",
                    task=task,
                    patient_ref=group,
                )
                assert len(report.accepted) == 1, report.to_dict()
                image_id = report.accepted[0].image_id
                assert image_id is not None
                image = Image.objects.select_related("case").get(pk=image_id)
                out.append(
                    Example.objects.create(
                        image=image,
                        case=image.case,
                        site=site,
                        task=task,
                        label=label,
                        provenance=provenance,
                        group=group,
                        source_path=f"train/{label}/{path.name}" if provenance == Provenance.BASE else "",
                        labelled_at=timezone.now(),
                    )
                )
        return out

    return _store


@pytest.fixture
def brain_examples(store_examples) -> list:
    """Three groups per brain class (one with two images): enough for train, val and test."""
    return store_examples({c: [f"{c}-g1", f"{c}-g1", f"{c}-g2", f"{c}-g3"] for c in BRAIN})


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
