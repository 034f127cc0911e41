"""Fixtures of the lifecycle tests: model version rows and finished results with fixed probabilities."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

BRAIN = ["glioma", "meningioma", "notumor", "pituitary"]
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
