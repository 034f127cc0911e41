"""Drift watch fixtures: the real bundled brain model, its validation rows, and streams of real images."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BRAIN_BUNDLE = REPO / "inference" / "bundles" / "brain_mri-cpu"
#: Redis database of the drift watch tests (tests/worker.py: each module family its own).
REDIS_DB = 6
#: Images in a reference built by the tests (evenly spread over the 482 validation images).
REFERENCE_IMAGES = 60


@pytest.fixture
def brain_model(db):
    """The shipped brain MRI model (real weights and suitability check), registered and active."""
    from inference.services import model_version_activate, model_version_register

    version, _ = model_version_register(bundle_dir=BRAIN_BUNDLE)
    model_version_activate(version=version)
    return version


@pytest.fixture
def brain_validation_rows(data_dir, brain_model) -> list[dict[str, str]]:
    """The brain model's validation rows, as its training split them."""
    from oncocore.model_card import ModelCard
    from oncocore.training.data import card_validation_rows

    return card_validation_rows(ModelCard.from_dict(brain_model.card), data_dir)[1]


def reference_for(version, *, limit: int = REFERENCE_IMAGES):
    from cases.models import AuditSource
    from cases.services.audit import AuditContext
    from lifecycle.services.drift import drift_reference_build

    return drift_reference_build(
        version=version, audit=AuditContext.system(source=AuditSource.CLI), limit=limit
    )


def ingest(paths: list[Path], *, site, user, task: str = "brain_mri") -> list[int]:
    """Each image through the intake as its own case of ``task``; returns the case ids (nothing queued)."""
    from cases.services.intake import intake_sources

    report = intake_sources(
        uploads=[(p.name, p.read_bytes()) for p in paths], site=site, user=user, source="web", task=task
    )
    assert len(report.accepted) == len(paths), report.rejected
    return list(report.case_ids)


def stream(paths: list[Path], *, site, user, capture, mocker, task: str = "brain_mri") -> list[int]:
    """Ingest ``paths`` as cases and score them through the worker's pipeline, in this process."""
    from cases.models import Case
    from inference.pipeline import predictions_run
    from inference.services import prediction_request

    mocker.patch("inference.services.run_predictions.delay")
    ids: list[int] = []
    for case in Case.objects.filter(pk__in=ingest(paths, site=site, user=user, task=task)):
        with capture(execute=True):
            ids += [p.pk for p in prediction_request(case=case)]
    assert predictions_run(prediction_ids=ids) == len(ids)
    return ids


def spread_paths(rows: list[dict[str, str]], count: int, *, offset: int = 0) -> list[Path]:
    """``count`` image paths evenly spread over ``rows`` (starting at ``offset``)."""
    step = max(1, (len(rows) - offset) // count)
    return [Path(r["abs_path"]) for r in rows[offset::step][:count]]


@pytest.fixture(autouse=True)
def _fresh_drift_status():
    """The drift status is cached across requests (and test runs, in a file cache): start and end without it."""
    from lifecycle.selectors_drift import drift_cache_clear

    drift_cache_clear()
    yield
    drift_cache_clear()


def lung_ct_paths(data_dir: Path, count: int) -> list[Path]:
    """``count`` lung CT slices, evenly spread over the folder's classes."""
    from oncocore.training.data import read_manifest

    return spread_paths(read_manifest(data_dir / "lung_ct"), count)
