"""Fixtures for the snapshot tests: Example rows over images stored by the normal intake.

The curation helper builds the sync from reviews to examples in parallel, so
these tests write the Example rows themselves, over real stored images.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.utils import timezone

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
