"""Fixtures of the lifecycle tests: brain MRI cases with a stored AI result, read through the real review services;
model version rows and finished results (clinical and shadow) with fixed probabilities; the bundled brain MRI model
as champion, a random one as candidate, a real snapshot."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

# The Chromium fixtures, for the lifecycle pages' browser tests.
from tests.browser.conftest import artifacts, chromium, page  # noqa: F401
from tests.conftest import BRAIN_CLASSES
from tests.lifecycle.drift_support import BRAIN_BUNDLE
from tests.retraining.conftest import freeze

#: Redis database of the lifecycle worker tests (tests/worker.py: each module family its own).
REDIS_DB = 1
CHAMPION_BUNDLE = Path(__file__).resolve().parents[2] / "inference" / "bundles" / "brain_mri-lite0"

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


_versions = itertools.count(1)


def brain(glioma: float, notumor: float) -> dict[str, float]:
    """Brain MRI probabilities with the rest split between meningioma and pituitary."""
    rest = round((1.0 - glioma - notumor) / 2, 10)
    return {"glioma": glioma, "meningioma": rest, "notumor": notumor, "pituitary": rest}


@pytest.fixture
def make_version(db) -> Callable[..., Any]:
    """A ModelVersion row (no bundle behind it: nothing here loads weights)."""
    from inference.models import ModelVersion

    def _make(task: str = "brain_mri", *, status: str = "active", classes: list[str] | None = None) -> Any:
        n = next(_versions)
        return ModelVersion.objects.create(
            name=f"test-{task}".replace("_", "-"),
            version=str(n),
            task=task,
            arch="stub",
            bundle_path="-",
            weights_sha256="0" * 64,
            class_names=classes or BRAIN,
            card={},
            status=status,
        )

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


@pytest.fixture
def predict(db) -> Callable[..., Any]:
    """A finished prediction of ``image`` by ``version`` with these probabilities (and any other column)."""
    from django.utils import timezone

    from inference.models import Prediction

    def _predict(image: Any, version: Any, probabilities: dict[str, float], **columns: Any) -> Any:
        label = max(probabilities, key=lambda k: probabilities[k])
        fields: dict[str, Any] = {
            "status": "done",
            "label": label,
            "confidence": probabilities[label],
            "probabilities": probabilities,
            "finished_at": timezone.now(),
            **columns,
        }
        return Prediction.objects.create(image=image, model_version=version, **fields)

    return _predict


@pytest.fixture
def shadow(db) -> Callable[..., Any]:
    """A finished shadow result of ``image`` by ``version`` (its deployment made on first use)."""
    from lifecycle.models import ShadowDeployment, ShadowPrediction

    def _shadow(image: Any, version: Any, probabilities: dict[str, float], **columns: Any) -> Any:
        deployment, _ = ShadowDeployment.objects.get_or_create(
            candidate=version, stopped_at=None, defaults={"task": version.task}
        )
        label = max(probabilities, key=lambda k: probabilities[k])
        return ShadowPrediction.objects.create(
            deployment=deployment,
            image=image,
            model_version=version,
            status="done",
            label=label,
            confidence=probabilities[label],
            probabilities=probabilities,
            **columns,
        )

    return _shadow


@pytest.fixture
def champion(db):
    """The shipped brain MRI model (trained on the public data folder), active."""
    from inference.services import model_version_register

    version, _ = model_version_register(bundle_dir=CHAMPION_BUNDLE, activate=True)
    return version


@pytest.fixture
def snapshot(data_dir, site, radiologist):
    """brain_mri-v1 frozen from 16 stored images (4 a class), 4 of them in the test split."""
    return freeze(data_dir, site=site, user=radiologist)


# One candidate for every part's tests: an untrained brain bundle (seed 2) that calls every
# brain image "pituitary", beside the champion ``random_model`` (seed 0), which calls every one
# "glioma". So a shadow result always differs from what readers were shown, and its label and
# version are easy to look for in what readers get.
CANDIDATE_NAME = "brain-shadow-challenger"
CANDIDATE_VERSION = "9.9.9-shadow"
CHAMPION_LABEL = "glioma"
CANDIDATE_LABEL = "pituitary"


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

    folder = tmp_path_factory.mktemp("bundles") / "brain-challenger"
    registry.make_random_bundle(folder, task="brain_mri", class_names=BRAIN_CLASSES, input_size=64, seed=2)
    card = json.loads((folder / "model.json").read_text())
    card.update(name=CANDIDATE_NAME, version=CANDIDATE_VERSION)
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


@pytest.fixture
def curator_audit(curator):
    from cases.models import AuditSource
    from cases.services.audit import AuditContext

    return AuditContext(actor=curator, source=AuditSource.WEB)


@pytest.fixture
def integration_api(integration):
    """A REST client with a read token of the integration account (what a PACS or RIS uses)."""
    from datetime import timedelta

    from rest_framework.test import APIClient

    from api.services.tokens import token_create

    token = token_create(user=integration, name="ris", scopes="read", expires_in=timedelta(days=1)).value
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


# --- Drift watch: the real bundled brain model, its validation rows, and streams of real images ---
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


@pytest.fixture(autouse=True)
def _fresh_drift_status():
    """The drift status is cached across requests (and test runs, in a file cache): start and end without it."""
    from lifecycle.selectors_drift import drift_cache_clear

    drift_cache_clear()
    yield
    drift_cache_clear()
