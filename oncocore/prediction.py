"""What a :class:`~oncocore.predictor.Predictor` hands back: one image's result, and stage-A output."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch

from .preprocessing import Geometry, PreprocessSpec
from .saliency import SaliencyMap

__all__ = ["PredictionResult", "Prepared"]


@dataclass
class PredictionResult:
    """Prediction for one image.

    Attributes:
        probabilities: Class name -> calibrated probability (sums to 1).
        label: Most probable class.
        confidence: Probability of ``label``.
        uncertainty: Entropy of ``probabilities`` / log(num classes), in [0, 1].
        saliency: Grad-CAM for ``label`` at the model's own resolution with
            the geometry to lay it on the original image, or None when
            saliency was not requested. :attr:`cam` renders it.
        geometry: Input-to-original mapping (of the first ensemble member).
        timings: ``preprocess_ms`` (this image), ``forward_ms`` and
            ``saliency_ms`` (its share of the batch; saliency is combining
            an ensemble's maps, ~0 for one model).
        device: Device the models ran on.
        model_versions: ``"name@version"`` of each member.
        untrained: True if any member has random weights.
        member_probabilities: Per-member probabilities (ensembles only).
        disagreement: Weighted mean KL(member || ensemble) in nats, i.e. the
            generalised Jensen-Shannon divergence; 0 for a single model.
        in_scope: The input suitability check's verdict (``oncocore.suitability``,
            the lead member's): False is "outside the model's scope", whose
            label must not be shown as a finding; None when the model has no check.
        scope_ratio: The check's score over its threshold (above 1: outside); None without a check.
    """

    probabilities: dict[str, float]
    label: str
    confidence: float
    uncertainty: float
    saliency: SaliencyMap | None
    geometry: Geometry
    timings: dict[str, float]
    device: str
    model_versions: list[str]
    untrained: bool
    member_probabilities: list[dict[str, float]] | None = None
    disagreement: float = 0.0
    in_scope: bool | None = None
    scope_ratio: float | None = None
    _cam: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def cam(self) -> np.ndarray | None:
        """Grad-CAM for ``label``, float32 (H, W) in [0, 1] at the original image
        geometry (rendered from :attr:`saliency` on first use), or None."""
        if self._cam is None and self.saliency is not None:
            self._cam = self.saliency.render()
        return self._cam

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (the maps are left out)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("saliency", "_cam")}
        return {**d, "geometry": self.geometry.to_dict()}


@dataclass
class Prepared:
    """Stage-A output of one image for every distinct member spec (:meth:`Predictor.prepare`)."""

    by_spec: dict[PreprocessSpec, tuple[torch.Tensor, Geometry]]  # uint8 (C, S, S), geometry
    preprocess_ms: float
