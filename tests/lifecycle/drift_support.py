"""Helpers of the drift tests: the shipped brain model's reference, streams of real images scored in this process."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BRAIN_BUNDLE = REPO / "inference" / "bundles" / "brain_mri-lite0"
#: Images in a reference built by the tests (evenly spread over the 482 validation images).
REFERENCE_IMAGES = 60


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


def lung_ct_paths(data_dir: Path, count: int) -> list[Path]:
    """``count`` lung CT slices, evenly spread over the folder's classes."""
    from oncocore.training.data import read_manifest

    return spread_paths(read_manifest(data_dir / "lung_ct"), count)
