"""Retraining fixtures: snapshots (a bare row, or frozen from real stored images) and a training worker."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.utils import timezone

from tests.conftest import BRAIN_CLASSES
from tests.worker import redis_url, worker_sharing_media

#: Redis database of these tests (tests/worker.py: each module family its own).
REDIS_DB = 5
IMAGES_PER_CLASS = 4


@pytest.fixture
def snapshot_row(db):
    """A snapshot row without files: enough for validation, views and commands that never train."""
    from curation.models import Snapshot

    return Snapshot.objects.create(
        task="brain_mri",
        version=1,
        name="brain_mri-v1",
        content_hash="0" * 64,
        class_names=BRAIN_CLASSES,
        counts={"train": dict.fromkeys(BRAIN_CLASSES, 2)},
        manifest="snapshots/brain_mri-v1/manifest.csv",
    )


def stored_examples(data_dir: Path, *, site, user, per_class: int = IMAGES_PER_CLASS) -> list:
    """Real brain MRI images through the intake, each a labelled example of its own patient group."""
    from cases.models import Image, Task
    from cases.services.intake import intake_sources
    from curation.models import Example, Provenance

    examples = []
    for label in BRAIN_CLASSES:
        paths = sorted((data_dir / "brain_mri" / "train" / label).glob("*.jpg"))[:per_class]
        for index, path in enumerate(paths):
            report = intake_sources(
                uploads=[(path.name, path.read_bytes())],
                site=site,
                user=user,
                source="web",
                task=Task.BRAIN_MRI,
                patient_ref=f"{label}-{index}",
            )
            assert len(report.accepted) == 1, report
            image = Image.objects.get(case_id=report.case_ids[0])
            examples.append(
                Example.objects.create(
                    image=image,
                    case=image.case,
                    site=site,
                    task=Task.BRAIN_MRI,
                    label=label,
                    provenance=Provenance.LABELLED,
                    group=f"{label}-{index}",
                    labelled_at=timezone.now(),
                )
            )
    return examples


def freeze(data_dir: Path, *, site, user):
    """A snapshot frozen by the curation service from 16 stored images (4 a class, one patient each)."""
    from cases.models import AuditSource
    from cases.services.audit import AuditContext
    from curation.services.snapshots import snapshot_freeze

    stored_examples(data_dir, site=site, user=user)
    return snapshot_freeze(
        task="brain_mri",
        seed=0,
        val_fraction=0.25,
        test_fraction=0.25,
        audit=AuditContext.system(source=AuditSource.CLI),
    )


def training_env(trainer_args: str = "") -> dict[str, str]:
    """A training node's environment in the tests: one trainer process on one CPU thread."""
    return {
        "OMP_NUM_THREADS": "1",
        "ONCOPORTAL_TRAINING_NPROC": "1",
        "ONCOPORTAL_TRAINING_EXTRA_ARGS": trainer_args,
        "ONCOPORTAL_TRAINING_CANCEL_GRACE": "20",
    }


@contextmanager
def training_worker_process(*, settings, tmp_path: Path, trainer_args: str = "") -> Iterator:
    """A real worker reading the ``training`` queue only, as a training node runs it, in its own process group.

    Its VAR_DIR (media, run folders, candidate bundles) is ``tmp_path/var``, and
    this process's settings point there too, so the test sees what it wrote
    (store images after it started). ``trainer_args`` is the node's
    ONCOPORTAL_TRAINING_EXTRA_ARGS (e.g. more epochs, to catch a job mid-run).
    """
    from oncoportal import celery_config

    with worker_sharing_media(
        settings=settings,
        tmp_path=tmp_path,
        url=redis_url(REDIS_DB),
        queues=celery_config.WORKERS["training"],
        new_session=True,
        extra_env=training_env(trainer_args),
    ) as proc:
        settings.TRAINING_DIR = tmp_path / "var" / "training"
        settings.TRAINING_CANDIDATES_DIR = tmp_path / "var" / "models" / "candidates"
        yield proc
