"""Input suitability (out-of-distribution) check: is this image like the ones the model was trained on?

Each model learns its own check from its own training images and keeps it in
its bundle, beside the weights (``suitability.safetensors``, described by the
card's ``suitability`` field):

* **Features**: the network's penultimate features (the pooled input of its
  last linear layer), taken in the same forward pass that scores the image.
* **Score**: the class-conditional Mahalanobis distance (Lee et al., 2018):
  the squared distance to the nearest class mean under one shared covariance,
  fitted on the training split the card records (group-held-out, as trained)
  and shrunk half-way towards its mean variance so that a few hundred images
  give a stable inverse. Twice: on the features as they are (their size
  counts: unfamiliar images often excite the network weakly or oddly
  strongly) and on the L2-normalised features (their direction only); the
  score is the geometric mean of the two distances, which caught more of the
  other tasks' images than either alone at the same false-alarm rate
  (docs/models.md, "Input suitability").
* **Threshold**: chosen on the model's own validation images, so that at most
  ``max_flagged`` (1 %) of them score above it. Results carry the score
  divided by the threshold (the *scope ratio*): above 1 is "outside the
  model's scope".

A bundle without the file is loaded as before and reported as "no check"
(``in_scope`` None). Fit the shipped bundles with ``oncocore.training.suitability``::

    python -m oncocore.training.suitability fit inference/bundles/brain_mri-lite0 ... --data-root ../shared/data
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import load_file, save_file
from torch import nn

from .model_card import CARD_FILE, BundleIntegrityError, ModelCard
from .registry import sha256_file

__all__ = [
    "FILE",
    "METHOD",
    "FeatureTap",
    "SuitabilityCheck",
    "classifier_layer",
    "fit_check",
    "load_check",
    "save_check",
]

FILE = "suitability.safetensors"
METHOD = "mahalanobis-tied-raw-x-l2"
#: Share of the model's own validation images the threshold may flag.
MAX_FLAGGED = 0.01
#: Weight of the isotropic target in the shrunk covariance.
SHRINKAGE = 0.5
#: The two views of the features the score combines.
VIEWS = ("raw", "l2")

PathLike = str | Path


def classifier_layer(model: nn.Module) -> nn.Module:
    """The model's last linear layer: its input is the pooled penultimate feature vector."""
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linear:
        raise ValueError(f"{type(model).__name__} has no linear classifier layer")
    return linear[-1]


class FeatureTap:
    """Keeps the input of a model's classifier layer from the latest forward pass (a pre-hook)."""

    def __init__(self, model: nn.Module) -> None:
        self.features: torch.Tensor | None = None
        self._handle = classifier_layer(model).register_forward_pre_hook(self._hook)

    def _hook(self, _module: nn.Module, args: tuple[Any, ...]) -> None:
        self.features = args[0].detach().float().flatten(1)

    def take(self) -> np.ndarray:
        """The features of the latest pass as float64 (B, D), and forget them.

        Raises:
            RuntimeError: No pass since the last call.
        """
        if self.features is None:
            raise RuntimeError("no forward pass since the features were last taken")
        out = self.features.cpu().double().numpy()
        self.features = None
        return out

    def close(self) -> None:
        self._handle.remove()


def _view(features: np.ndarray, view: str) -> np.ndarray:
    f = np.asarray(features, dtype=np.float64)
    if view == "l2":
        return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    return f


def _f32(a: np.ndarray) -> np.ndarray:
    """Rounded to float32 as the bundle stores it, so the threshold holds for what is loaded back."""
    return a.astype(np.float32).astype(np.float64)


def _nearest(
    x: np.ndarray, means: np.ndarray, precision: np.ndarray, whitened: tuple[np.ndarray, np.ndarray] | None
) -> np.ndarray:
    """Squared Mahalanobis distance of each row of ``x`` to its nearest class mean (N,).

    With ``whitened`` = (L, means·L), L the Cholesky factor of the precision
    (P = L Lᵀ), the distance (x - m)ᵀ P (x - m) is |xL - mL|²: one (N, D) x (D, D)
    product for the batch, against one per class mean without it: the
    (N*K, D) x (D, D) product, through BLAS too (the three-operand ``einsum``
    before that ran as one unoptimised loop, 250 ms a batch of 16 for Lite0's
    1,280 features).
    """
    if whitened is not None:
        whiten, means_whitened = whitened
        diff = (x @ whiten)[:, None, :] - means_whitened[None, :, :]
        return np.square(diff).sum(axis=2).min(axis=1)
    n, k, d = len(x), len(means), means.shape[1]
    diff = (x[:, None, :] - means[None, :, :]).reshape(n * k, d)
    return np.einsum("ij,ij->i", diff @ precision, diff).reshape(n, k).min(axis=1)


def _whitened(means: np.ndarray, precision: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(L, means·L) with precision = L Lᵀ, or None for a precision that is not positive definite."""
    try:
        whiten = np.linalg.cholesky(precision)
    except np.linalg.LinAlgError:
        return None
    return whiten, means @ whiten


@dataclass(frozen=True)
class SuitabilityCheck:
    """A fitted check: per view of the features, class means and the shared precision; and the threshold.

    Attributes:
        means: view -> (K, D) class means of the training features in that view.
        precision: view -> (D, D) inverse of the shrunk shared covariance.
        threshold: Largest in-scope score.
        class_names: The model's classes, in output order.
    """

    means: dict[str, np.ndarray]
    precision: dict[str, np.ndarray]
    threshold: float
    class_names: tuple[str, ...]

    @cached_property
    def _whitened(self) -> dict[str, tuple[np.ndarray, np.ndarray] | None]:
        """Each view's Cholesky factor of its precision and its whitened means, once per loaded check."""
        return {v: _whitened(self.means[v], self.precision[v]) for v in VIEWS}

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Each image's score (N,): the geometric mean over the views of its distance to the nearest class."""
        logs = [
            np.log(
                np.maximum(
                    _nearest(_view(features, v), self.means[v], self.precision[v], self._whitened[v]), 1e-12
                )
            )
            for v in VIEWS
        ]
        return np.exp(np.mean(logs, axis=0))

    def ratios(self, features: np.ndarray) -> np.ndarray:
        """Score / threshold (N,): above 1 is outside the model's scope."""
        return self.scores(features) / self.threshold


def fit_check(
    train: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    val: np.ndarray,
    class_names: Sequence[str],
    *,
    max_flagged: float = MAX_FLAGGED,
    shrinkage: float = SHRINKAGE,
) -> SuitabilityCheck:
    """Fit the check on training features and set its threshold on validation features.

    Args:
        train: (N, D) penultimate features of the training images.
        labels: Their class indices.
        val: (M, D) features of the model's own validation images.
        class_names: The model's classes.
        max_flagged: Largest share of ``val`` the threshold may flag.
        shrinkage: Weight of the isotropic target in the covariance.

    Raises:
        ValueError: A class without training images, or sizes that do not match.
    """
    y = np.asarray(labels, dtype=np.int64)
    if len(train) != len(y) or not len(val):
        raise ValueError("need one label per training image and some validation images")
    k = len(class_names)
    if set(y.tolist()) != set(range(k)):
        raise ValueError("every class needs training images")
    means, precision = {}, {}
    for view in VIEWS:
        x = _view(train, view)
        means[view] = _f32(np.stack([x[y == c].mean(axis=0) for c in range(k)]))
        centred = x - means[view][y]
        cov = centred.T @ centred / len(x)
        target = np.trace(cov) / cov.shape[0]
        cov = (1 - shrinkage) * cov + shrinkage * target * np.eye(cov.shape[0])
        precision[view] = _f32(np.linalg.inv(cov))
    check = SuitabilityCheck(means, precision, 1.0, tuple(class_names))
    scores = np.sort(check.scores(val))
    # The smallest threshold that flags at most max_flagged of the validation images.
    keep = int(np.ceil(len(scores) * (1.0 - max_flagged))) - 1
    return replace(check, threshold=float(scores[min(max(keep, 0), len(scores) - 1)]))


def load_check(directory: PathLike, card: ModelCard) -> SuitabilityCheck | None:
    """The bundle's check, or None when the card records none ("no check").

    Raises:
        BundleIntegrityError: The file is missing or differs from the card's SHA-256.
    """
    info = card.suitability
    if not info:
        return None
    path = Path(directory) / str(info.get("file", FILE))
    if not path.is_file() or sha256_file(path) != info.get("sha256"):
        raise BundleIntegrityError(f"{path}: suitability check missing or not the one the card records")
    arrays = load_file(str(path))
    return SuitabilityCheck(
        {v: arrays[f"means_{v}"].astype(np.float64) for v in VIEWS},
        {v: arrays[f"precision_{v}"].astype(np.float64) for v in VIEWS},
        float(info["threshold"]),
        card.class_names,
    )


def save_check(
    directory: PathLike, card: ModelCard, check: SuitabilityCheck, info: dict[str, Any]
) -> ModelCard:
    """Write the check's file and record it on the bundle's card (``model.json``); returns the new card."""
    out = Path(directory)
    tmp = out / (FILE + ".tmp")
    tensors = {f"means_{v}": check.means[v].astype(np.float32) for v in VIEWS}
    tensors.update({f"precision_{v}": check.precision[v].astype(np.float32) for v in VIEWS})
    save_file(tensors, str(tmp))
    digest = sha256_file(tmp)
    card = replace(
        card,
        suitability={
            "file": FILE,
            "sha256": digest,
            "method": METHOD,
            "features": "penultimate (classifier input): as they are, and L2-normalised",
            "threshold": check.threshold,
            **info,
        },
    )
    ModelCard.from_dict(card.to_dict())
    tmp_card = out / (CARD_FILE + ".tmp")
    tmp_card.write_text(json.dumps(card.to_dict(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out / FILE)
    os.replace(tmp_card, out / CARD_FILE)
    return card
