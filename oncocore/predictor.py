"""Batch prediction with calibrated probabilities, uncertainty and Grad-CAM.

Load a :class:`Predictor` once per process (model loading and the SHA-256
check are not free) and call :meth:`Predictor.predict_batch` or
:meth:`Predictor.predict_sources` per request. One bundle gives a single
model; several bundles give a weighted ensemble over the same class list.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .devices import iter_prepared, prefers_channels_last, select_device
from .nets import gradcam_target_layer
from .nets.fuse import fold_batchnorm
from .prediction import PredictionResult, Prepared
from .preprocessing import Geometry, ImageSource, PreprocessSpec, load_image, normalize_uint8, prepare_uint8
from .registry import ModelCard, load_model
from .saliency import SaliencyMap, cam_to_original, gradcam_lowres, input_rescaling, rescale_to_input
from .suitability import FeatureTap, SuitabilityCheck, load_check

__all__ = ["PredictionResult", "Predictor", "Prepared", "iter_prepared", "select_device"]

PathLike = str | Path


def _example_input(spec: PreprocessSpec, device: torch.device) -> torch.Tensor:
    """Two small random inputs (fixed seed) with the spec's channels, for checking a folded model at load.

    At most 64 px a side: the folding does not depend on the size, and a small
    pass keeps model loading (a naive worker's every image) cheap.
    """
    generator = torch.Generator().manual_seed(0)
    side = min(spec.input_size, 64)
    shape = (2, spec.channels, side, side)
    return torch.randn(shape, generator=generator).to(device)


@dataclass
class _Member:
    model: nn.Module
    card: ModelCard
    layer: nn.Module
    weight: float


class Predictor:
    """Single model or weighted ensemble, loaded once and reused.

    Thread-safe: calls are serialised around the models (Grad-CAM attaches
    hooks to the shared modules), preprocessing runs in a worker pool.
    """

    def __init__(
        self,
        bundles: PathLike | Sequence[PathLike],
        *,
        weights: Sequence[float] | None = None,
        device: str | torch.device | None = None,
        batch_size: int = 16,
        num_workers: int = 2,
        amp: bool | None = None,
        channels_last: bool | None = None,
        fold_bn: bool = True,
        suitability: bool = True,
    ) -> None:
        """Load the bundle(s).

        Args:
            bundles: One bundle folder or a sequence of them (ensemble).
            weights: Ensemble weights (positive, normalised here); default equal.
            device: Override the automatic choice (cuda, then mps, then cpu).
            batch_size: Images per forward pass.
            num_workers: Threads decoding/preprocessing ahead of the model.
            amp: bf16 autocast for the forward pass; default on for CUDA only.
            channels_last: NHWC memory format; default: where it runs faster
                (``devices.prefers_channels_last``: CUDA and the CPU).
            fold_bn: Fold each BatchNorm into the convolution before it
                (``oncocore.nets.fuse``; the same logits to float rounding, checked at load).
            suitability: Run the lead member's input suitability check, if its bundle has one.

        Raises:
            ValueError: Empty list, bad weights, or members whose class lists
                or tasks differ. Bundle errors from ``registry.load_model``.
        """
        dirs = [bundles] if isinstance(bundles, (str, Path)) else list(bundles)
        if not dirs:
            raise ValueError("Predictor needs at least one bundle")
        w = [1.0] * len(dirs) if weights is None else [float(x) for x in weights]
        if len(w) != len(dirs) or any(not math.isfinite(x) or x <= 0 for x in w):
            raise ValueError("weights must be one positive number per bundle")
        self.device = select_device(device)
        cuda = self.device.type == "cuda"
        self.amp = cuda if amp is None else amp
        self.channels_last = prefers_channels_last(self.device) if channels_last is None else channels_last
        self.batch_size, self.num_workers = batch_size, num_workers
        self.members: list[_Member] = []
        for d, wt in zip(dirs, w, strict=True):
            model, card = load_model(d, self.device)
            if fold_bn:
                fold_batchnorm(model, _example_input(card.preprocessing, self.device))
            if self.channels_last:
                model = model.to(memory_format=torch.channels_last)
            self.members.append(_Member(model, card, gradcam_target_layer(model, card.arch), wt / sum(w)))
        first = self.members[0].card
        for m in self.members[1:]:
            if m.card.class_names != first.class_names or m.card.task != first.task:
                raise ValueError(f"ensemble members disagree on task/classes: {m.card.name} vs {first.name}")
        self.class_names: tuple[str, ...] = first.class_names
        self.task: str = first.task
        self.untrained = any(m.card.untrained for m in self.members)
        self.model_versions = [f"{m.card.name}@{m.card.version}" for m in self.members]
        self.specs: list[PreprocessSpec] = list(dict.fromkeys(m.card.preprocessing for m in self.members))
        self._lock = threading.Lock()
        # The lead member's check decides for the ensemble (its features come from the same pass).
        self.check: SuitabilityCheck | None = load_check(dirs[0], first) if suitability else None
        self._tap = FeatureTap(self.members[0].model) if self.check is not None else None

    @property
    def cards(self) -> list[ModelCard]:
        """Model cards of the members, in load order."""
        return [m.card for m in self.members]

    def prepare(self, source: np.ndarray | ImageSource) -> Prepared:
        """Decode (if needed) and run stage A for every distinct member spec.

        Thread-safe and model-free: callers that decode in a pool of their own
        call it there, so stage A overlaps the forward pass too (see
        :meth:`predict_prepared`).
        """
        t0 = time.perf_counter()
        out: dict[PreprocessSpec, tuple[torch.Tensor, Geometry]] = {}
        decoded: dict[int, np.ndarray] = {}
        for spec in self.specs:
            if isinstance(source, np.ndarray):
                array = source
            else:  # decode once per channel count, exactly as training did
                array = decoded.setdefault(spec.channels, load_image(source, spec.channels))
            out[spec] = prepare_uint8(array, spec)
        return Prepared(out, (time.perf_counter() - t0) * 1e3)

    def predict_batch(self, arrays: Sequence[np.ndarray], *, saliency: bool = True) -> list[PredictionResult]:
        """Predict decoded images.

        Args:
            arrays: uint8 (H, W) or (H, W, 3) display images (raw arrays if
                the spec's intensity mode expects them).
            saliency: Also compute Grad-CAM for the predicted class.

        Returns:
            One :class:`PredictionResult` per input, in order.
        """
        return self.predict_sources(list(arrays), saliency=saliency)

    def predict_sources(
        self, sources: Iterable[np.ndarray | ImageSource], *, saliency: bool = True
    ) -> list[PredictionResult]:
        """Like :meth:`predict_batch`, also accepting paths, bytes or file objects.

        Decoding happens in the worker pool, overlapping the forward pass.

        Raises:
            ValueError: An input cannot be decoded or has an unsupported shape.
        """
        results: list[PredictionResult] = []
        for prepared in iter_prepared(
            sources, self.prepare, batch_size=self.batch_size, num_workers=self.num_workers
        ):
            results.extend(self._run_batch(prepared, saliency))
        return results

    def features(self, sources: Iterable[np.ndarray | ImageSource]) -> np.ndarray:
        """The lead member's penultimate features (N, D) of the inputs (what its suitability check reads)."""
        lead = self.members[0]
        tap = self._tap or FeatureTap(lead.model)
        out: list[np.ndarray] = []
        try:
            for prepared in iter_prepared(
                sources, self.prepare, batch_size=self.batch_size, num_workers=self.num_workers
            ):
                with self._lock, torch.inference_mode():
                    lead.model(self._inputs(prepared, lead.card.preprocessing))
                    out.append(tap.take())
        finally:
            if tap is not self._tap:
                tap.close()
        return np.concatenate(out) if out else np.zeros((0, 0))

    def _lead_features(self, member: _Member) -> np.ndarray | None:
        """After ``member``'s first pass on a batch: the lead's features for the check (else None)."""
        if self._tap is None or member is not self.members[0]:
            return None
        return self._tap.take()

    def predict_prepared(
        self, prepared: Sequence[Prepared], *, saliency: bool = True
    ) -> list[PredictionResult]:
        """Predict images already through :meth:`prepare`, as one batch (the model's pass only)."""
        return self._run_batch(list(prepared), saliency) if prepared else []

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _inputs(self, prepared: list[Prepared], spec: PreprocessSpec) -> torch.Tensor:
        if self.channels_last:
            # Stacked straight into NHWC (a (B, C, S, S) view of it), while still uint8: converting
            # the float batch afterwards was another full copy, a third of this step on the CPU.
            u8 = torch.stack([p.by_spec[spec][0].permute(1, 2, 0) for p in prepared]).permute(0, 3, 1, 2)
        else:
            u8 = torch.stack([p.by_spec[spec][0] for p in prepared])  # (B, C, S, S) uint8
        # Ship uint8 (4x less traffic) and normalise on the device; the memory format carries over.
        return normalize_uint8(u8.to(self.device, non_blocking=True), spec)

    def _run_batch(self, prepared: list[Prepared], saliency: bool) -> list[PredictionResult]:
        n = len(prepared)
        autocast = (
            torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
            if self.amp
            else contextlib.nullcontext()
        )
        feats: np.ndarray | None = None
        with self._lock:
            self._sync()
            t0 = time.perf_counter()
            inputs = {spec: self._inputs(prepared, spec) for spec in self.specs}
            maps_per_image: list[SaliencyMap | None] = [None] * n
            if saliency and len(self.members) == 1:
                # One model: a single pass gives both the logits and the
                # Grad-CAM of the predicted class (its argmax), kept at the
                # target layer's resolution.
                m = self.members[0]
                spec = m.card.preprocessing
                cams, logits = gradcam_lowres(m.model, inputs[spec], m.layer, None)
                feats = self._lead_features(m)
                probs = torch.softmax(logits / m.card.temperature, dim=1).unsqueeze(0)  # (1, B, K)
                mean = probs[0]
                labels = mean.argmax(1)
                self._sync()
                t1 = time.perf_counter()
                for i in range(n):
                    maps_per_image[i] = SaliencyMap(cams[i], prepared[i].by_spec[spec][1], rescale=True)
                t2 = time.perf_counter()
                # forward_ms is the fused pass that yields logits and Grad-CAM.
                timings = {"forward_ms": (t1 - t0) * 1e3 / n, "saliency_ms": (t2 - t1) * 1e3 / n}
            elif saliency:
                # Ensemble: one fused pass per member gives its logits and the
                # Grad-CAM of its own argmax. The map must explain the
                # ensemble's label, so only the images where a member's argmax
                # differs from it get a second pass for that member.
                member_probs, member_cams = [], []
                for m in self.members:
                    spec = m.card.preprocessing
                    cams, logits = gradcam_lowres(m.model, inputs[spec], m.layer, None)
                    feats = self._lead_features(m) if feats is None else feats
                    member_probs.append(torch.softmax(logits / m.card.temperature, dim=1))
                    member_cams.append(cams)
                probs = torch.stack(member_probs)  # (M, B, K)
                mean, labels = self._mean(probs)
                self._sync()
                t1 = time.perf_counter()
                for m, p, cams in zip(self.members, member_probs, member_cams, strict=True):
                    redo = (p.argmax(1) != labels).nonzero().flatten()
                    if len(redo):
                        idx = redo.cpu().numpy()
                        cams[idx] = gradcam_lowres(
                            m.model, inputs[m.card.preprocessing][redo], m.layer, labels[redo].tolist()
                        )[0]
                for i in range(n):
                    maps_per_image[i] = self._combine([c[i] for c in member_cams], prepared[i])
                self._sync()
                t2 = time.perf_counter()
                # forward_ms: the members' fused passes; saliency_ms: re-explained images and combining.
                timings = {"forward_ms": (t1 - t0) * 1e3 / n, "saliency_ms": (t2 - t1) * 1e3 / n}
            else:
                member_probs = []
                with torch.inference_mode(), autocast:
                    for m in self.members:
                        logits = m.model(inputs[m.card.preprocessing]).float()  # (B, K)
                        feats = self._lead_features(m) if feats is None else feats
                        member_probs.append(torch.softmax(logits / m.card.temperature, dim=1))
                probs = torch.stack(member_probs)  # (M, B, K)
                mean, labels = self._mean(probs)
                self._sync()
                t1 = time.perf_counter()
                timings = {"forward_ms": (t1 - t0) * 1e3 / n, "saliency_ms": 0.0}
        return self._results(
            prepared,
            probs.cpu().double(),
            mean.cpu().double(),
            labels.tolist(),
            maps_per_image,
            timings,
            None if feats is None or self.check is None else self.check.ratios(feats),
        )

    def _combine(self, cams: list[np.ndarray], prepared: Prepared) -> SaliencyMap:
        """One image's ensemble map: the members' low-resolution maps, weighted.

        Members preprocessed alike share one input grid, so their maps add up
        there (bilinear upsampling and the placement are linear): at the cells'
        own resolution when the grids match, else on the S x S model input.
        Members preprocessed differently only meet on the original image.
        """
        lead_spec = self.members[0].card.preprocessing
        geometry = prepared.by_spec[lead_spec][1]
        pairs = list(zip(self.members, cams, strict=True))
        if any(m.card.preprocessing != lead_spec for m in self.members):
            full = np.zeros(geometry.original_hw, np.float32)
            for m, c in pairs:
                spec = m.card.preprocessing
                full += m.weight * cam_to_original(
                    rescale_to_input(c, spec.input_size), prepared.by_spec[spec][1]
                )
            return SaliencyMap(np.clip(full, 0.0, 1.0), None, rescale=False)
        s = lead_spec.input_size
        if len({c.shape for c in cams}) > 1:  # different grids: add up on the model input
            low = np.zeros((s, s), np.float32)
            for m, c in pairs:
                low += m.weight * rescale_to_input(c, s)
            return SaliencyMap(np.clip(low, 0.0, 1.0), geometry, rescale=False)
        # One grid: each member's rescaling after upsampling is affine, so it
        # folds into its cells and the sum stays exact at the cells' resolution.
        low = np.zeros(cams[0].shape, np.float32)
        for m, c in pairs:
            scale, offset = input_rescaling(c, s)
            low += m.weight * (scale * c + offset)
        return SaliencyMap(low, geometry, rescale=False)

    def _mean(self, probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Weighted ensemble mean (B, K) of member probabilities (M, B, K), and its argmax (B,)."""
        wts = torch.tensor([m.weight for m in self.members], device=probs.device).view(-1, 1, 1)
        mean = (wts * probs).sum(0)
        return mean, mean.argmax(1)

    def _results(
        self,
        prepared: list[Prepared],
        probs: torch.Tensor,  # (M, B, K) float64, per member
        mean: torch.Tensor,  # (B, K) float64, weighted ensemble mean
        labels: list[int],
        maps: list[SaliencyMap | None],
        shared_ms: dict[str, float],
        ratios: np.ndarray | None = None,
    ) -> list[PredictionResult]:
        eps = 1e-12
        entropy = -(mean * mean.clamp_min(eps).log()).sum(1) / math.log(len(self.class_names))  # (B,)
        # KL(member || mean) per member and image, weighted over members.
        kl = (probs * (probs.clamp_min(eps).log() - mean.clamp_min(eps).log().unsqueeze(0))).sum(2)  # (M, B)
        wts = torch.tensor([m.weight for m in self.members], dtype=torch.float64).view(-1, 1)
        disagreement = (wts * kl).sum(0).clamp_min(0.0)  # (B,)
        names, lead_spec = self.class_names, self.members[0].card.preprocessing
        out = []
        for i, p in enumerate(prepared):
            row = mean[i].tolist()
            members = [dict(zip(names, probs[j, i].tolist(), strict=True)) for j in range(len(self.members))]
            out.append(
                PredictionResult(
                    probabilities=dict(zip(names, row, strict=True)),
                    label=names[labels[i]],
                    confidence=float(row[labels[i]]),
                    uncertainty=float(entropy[i].clamp(0.0, 1.0)),
                    saliency=maps[i],
                    geometry=p.by_spec[lead_spec][1],
                    timings={"preprocess_ms": p.preprocess_ms, **shared_ms},
                    device=str(self.device),
                    model_versions=list(self.model_versions),
                    untrained=self.untrained,
                    member_probabilities=members if len(members) > 1 else None,
                    disagreement=float(disagreement[i]),
                    in_scope=None if ratios is None else bool(ratios[i] <= 1.0),
                    scope_ratio=None if ratios is None else float(ratios[i]),
                )
            )
        return out
