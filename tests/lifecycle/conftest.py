"""Promotion fixtures: a second brain MRI version (the candidate), a snapshot row, hand-made evaluations."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.utils import timezone

# The Chromium fixtures, for the Models tab's browser test (test_promotion_browser.py).
from tests.browser.conftest import artifacts, chromium, page  # noqa: F401
from tests.conftest import BRAIN_CLASSES

#: Redis database of the promotion tests (tests/worker.py: each module family its own).
REDIS_DB = 3
CANDIDATE_VERSION = "0.0.2+untrained"


def metrics(macro_f1: float = 0.80, **sensitivity: float) -> dict[str, Any]:
    """An evaluation side's metrics in the evaluation part's schema; sensitivities 0.90 unless given."""
    per_class = {
        cls: {
            "sensitivity": sensitivity.get(cls, 0.90),
            "specificity": 0.95,
            "recall": sensitivity.get(cls, 0.90),
            "precision": 0.9,
            "f1": 0.9,
            "support": 10,
            "auc": 0.95,
        }
        for cls in BRAIN_CLASSES
    }
    return {
        "accuracy": 0.9,
        "macro_f1": macro_f1,
        "macro_auc": 0.95,
        "ece": 0.05,
        "confusion_matrix": [[10 if i == j else 0 for j in range(4)] for i in range(4)],
        "per_class": per_class,
    }


@pytest.fixture(scope="session")
def candidate_bundle(tmp_path_factory):
    """A second untrained brain MRI bundle (other weights, another version) of the same classes."""
    from oncocore import registry

    folder = tmp_path_factory.mktemp("bundles") / "brain-tiny-2"
    registry.make_random_bundle(folder, task="brain_mri", class_names=BRAIN_CLASSES, input_size=64, seed=1)
    card = json.loads((folder / "model.json").read_text())
    card["version"] = CANDIDATE_VERSION
    (folder / "model.json").write_text(json.dumps(card))
    return folder


@pytest.fixture
def candidate(db, candidate_bundle):
    """The candidate version: registered, not active."""
    from inference.services import model_version_register

    version, _ = model_version_register(bundle_dir=candidate_bundle)
    return version


@pytest.fixture
def snapshot_row(db):
    from curation.models import Snapshot

    return Snapshot.objects.create(
        task="brain_mri",
        version=1,
        name="brain_mri-v1",
        content_hash="0" * 64,
        class_names=BRAIN_CLASSES,
        counts={"test": dict.fromkeys(BRAIN_CLASSES, 10)},
        manifest="snapshots/brain_mri-v1/manifest.csv",
    )


@pytest.fixture
def make_evaluation(snapshot_row):
    """An Evaluation row made by hand: the candidate against the task's ensemble now (unless told)."""
    from lifecycle.models import Evaluation, RunStatus
    from lifecycle.selectors_promotion import champion_members

    def _make(
        candidate,
        *,
        champion: dict[str, Any] | None = None,
        challenger: dict[str, Any] | None = None,
        members: list[dict[str, Any]] | None = None,
        status: str = RunStatus.DONE,
    ) -> Evaluation:
        members = champion_members(task=candidate.task) if members is None else members
        champion_metrics = champion or metrics()
        candidate_metrics = challenger or metrics()
        return Evaluation.objects.create(
            task=candidate.task,
            snapshot=snapshot_row,
            candidate=candidate,
            champion_id=members[0]["version_id"] if members else None,
            champion_members=members,
            status=status,
            finished_at=timezone.now() if status == RunStatus.DONE else None,
            results={
                "class_names": BRAIN_CLASSES,
                "n": 40,
                "split": "test",
                "sides": {
                    "candidate": {"label": candidate.label, "metrics": candidate_metrics},
                    "champion": {"label": "champion", "metrics": champion_metrics},
                },
                "paired": {
                    "test": "mcnemar",
                    "b": 3,
                    "c": 5,
                    "statistic": None,
                    "p_value": 0.72,
                    "exact": True,
                },
                "items": [],
            },
        )

    return _make
