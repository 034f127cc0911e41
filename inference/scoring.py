"""The Django half of the one scoring path: models loaded per process, result rows and saliency files.

``oncocore.scoring`` decodes and scores; this module loads the task's ensemble
once per worker process, writes a result into a :class:`~inference.models.ScoredResult`
row (a case's prediction or a try-out) and its map into storage, and renders the
full-resolution map and the overlay from the stored cells when someone first
looks at them (then caches them in storage).
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from cases.models import ImageKind
from inference.models import ModelVersion, Prediction, ScoredResult, TryOut
from inference.selectors import active_ensemble
from oncocore.predictor import PredictionResult, Predictor
from oncocore.preprocessing import PreprocessSpec
from oncocore.saliency import SaliencyMap, cam_to_png16, overlay_png, png16_to_cam
from oncocore.scoring import Scored, model_input

# --- Predictors: loaded once per worker process -----------------------------
# The few most recently used ensembles stay loaded (settings.PREDICTOR_CACHE_SIZE),
# so shadow runs, evaluations and drift references interleaved with clinical
# predictions do not reload the clinical ensemble each time they take turns.
_PredictorKey = tuple[tuple[int, str, str, float], ...]
_predictors: OrderedDict[_PredictorKey, Predictor] = OrderedDict()
_predictors_lock = threading.Lock()


def ensemble_for(lead: ModelVersion) -> list[ModelVersion]:
    """The lead's current ensemble: the task's active versions, or the lead alone if it was retired."""
    members = active_ensemble(task=lead.task)
    return members if members and members[0].pk == lead.pk else [lead]


def predictor_for(members: Sequence[ModelVersion]) -> Predictor:
    """A cached Predictor for these versions; the first call per process loads the weights.

    Keyed by each member's version, weights digest, folder and ensemble weight, so
    a promotion (new members or new weights) loads a new one; the least recently
    used is dropped past ``settings.PREDICTOR_CACHE_SIZE`` ensembles.
    """
    # The weights' digest and folder as well as the pk: SQLite hands a deleted
    # row's pk to the next version registered, which must not get the old model.
    key = tuple((m.pk, m.weights_sha256, m.bundle_path, m.weight) for m in members)
    with _predictors_lock:
        predictor = _predictors.get(key)
        if predictor is None:
            device = None if settings.INFERENCE_DEVICE == "auto" else settings.INFERENCE_DEVICE
            predictor = Predictor(
                [m.bundle_path for m in members],
                weights=[m.weight for m in members],
                device=device,
                batch_size=settings.INFERENCE_BATCH_SIZE,
            )
            _predictors[key] = predictor
            while len(_predictors) > settings.PREDICTOR_CACHE_SIZE:
                _predictors.popitem(last=False)  # keep memory bounded
        else:
            _predictors.move_to_end(key)
    return predictor


# --- Result rows -------------------------------------------------------------
def member_rows(members: Sequence[ModelVersion], result: PredictionResult) -> list[dict[str, object]]:
    """Each ensemble member's version, weight and probabilities, as stored with a result."""
    return [
        {"version_id": m.pk, "version": str(m), "weight": m.weight, "probabilities": probs}
        for m, probs in zip(members, result.member_probabilities or [result.probabilities], strict=False)
    ]


# The columns result_columns() sets, for a bulk_update of many rows.
RESULT_COLUMNS = [
    "status",
    "label",
    "confidence",
    "probabilities",
    "uncertainty",
    "disagreement",
    "members",
    "untrained",
    "saliency_raw",
    "saliency_geometry",
    "device",
    "timings",
    "error",
    "in_scope",
    "scope_ratio",
    "input_stats",
]


def result_columns(
    scored: Scored[Any], *, members: Sequence[ModelVersion], saliency_name: str, timings: dict[str, Any]
) -> dict[str, Any]:
    """The :class:`ScoredResult` columns of a finished result, for an ``update()``."""
    result = scored.result
    assert result is not None  # only scored inputs are written
    # Outside the model's scope: no class and no map of one; the probabilities stay for audit.
    outside = result.in_scope is False
    return {
        "status": ScoredResult.Status.DONE,
        "label": "" if outside else result.label,
        "confidence": None if outside else result.confidence,
        "probabilities": result.probabilities,
        "uncertainty": result.uncertainty,
        "disagreement": result.disagreement if len(members) > 1 else None,
        "members": member_rows(members, result),
        "untrained": result.untrained,
        "saliency_raw": "" if outside else saliency_name,
        "saliency_geometry": scored.saliency_meta if saliency_name and not outside else None,
        "device": result.device,
        "timings": timings,
        "error": "",
        "in_scope": result.in_scope,
        "scope_ratio": result.scope_ratio,
        "input_stats": scored.input_stats,
    }


def put(name: str, data: bytes) -> str:
    """Store ``data`` under ``name``, replacing what is there; returns the stored name."""
    # Same name on every run: a redelivered task overwrites instead of adding files.
    if default_storage.exists(name):
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(data))


def read(name: str) -> bytes:
    with default_storage.open(name, "rb") as fh:
        return fh.read()


# --- Saliency files, rendered on first view ----------------------------------
def stored_map(row: ScoredResult) -> SaliencyMap | None:
    """The row's Grad-CAM map: its cells and geometry, or a full-resolution map stored before issue 17.

    Raises:
        FileNotFoundError: The stored file is gone.
    """
    if not row.saliency_raw:
        return None
    data = read(row.saliency_raw.name)
    if row.saliency_geometry is None:  # written before issue 17: the full-resolution map itself
        return SaliencyMap(png16_to_cam(data), None, rescale=False)
    return SaliencyMap.from_png16(data, row.saliency_geometry)


def saliency_png_name(row: ScoredResult) -> str:
    """The stored name of the full-resolution 16-bit map (the viewer's), rendering and caching it if needed.

    Rows from before issue 17 stored that map itself in ``saliency_raw``.

    Raises:
        FileNotFoundError: The stored map is gone (or the row has none).
    """
    if not row.saliency_raw:
        raise FileNotFoundError("no saliency map")
    if row.saliency_geometry is None:
        return row.saliency_raw.name
    name = _sibling(row.saliency_raw.name, "saliency.png")
    if not default_storage.exists(name):
        saliency = stored_map(row)
        assert saliency is not None
        name = put(name, cam_to_png16(saliency.render()))
    return name


def prediction_overlay_name(prediction: Prediction) -> str:
    """The stored overlay of a prediction, rendered and cached on first use.

    Drawn on what the model saw (8-bit inputs) or on the stored display rendering
    of the frame (raw-value inputs), as the worker drew it before issue 17.

    Raises:
        FileNotFoundError: No map, or a stored file is gone.
    """
    if prediction.saliency_overlay:
        return prediction.saliency_overlay.name
    image = prediction.image
    spec = _lead_spec(prediction.model_version)

    def display() -> np.ndarray:
        array = model_input(
            read(image.file.name), dicom=image.kind != ImageKind.IMAGE, spec=spec, frame=prediction.frame
        )
        if array.dtype == np.uint8:
            return array
        return _png_rgb(read(image.display_name(prediction.frame)))

    name = _render_overlay(prediction, display)
    Prediction.objects.filter(pk=prediction.pk, saliency_raw=prediction.saliency_raw.name).update(
        saliency_overlay=name
    )
    return name


def prediction_file_name(prediction: Prediction, kind: str) -> str:
    """The stored name of a prediction's 'overlay' or 'saliency' PNG, rendered on first use; '' without a map.

    What the web view and the API serve.

    Raises:
        FileNotFoundError: A stored file is gone.
        ValueError: The stored map cannot be read.
        KeyError: ``kind`` is neither 'overlay' nor 'saliency'.
    """
    render = {"overlay": prediction_overlay_name, "saliency": saliency_png_name}[kind]
    return render(prediction) if prediction.saliency_raw else ""


def tryout_overlay_name(tryout: TryOut) -> str:
    """The stored overlay of a try-out, rendered and cached on first use (as :func:`prediction_overlay_name`).

    Raises:
        FileNotFoundError: No map, or a stored file is gone (e.g. discarded meanwhile).
    """
    if tryout.overlay:
        return tryout.overlay.name
    if tryout.model_version is None:
        raise FileNotFoundError("the try-out's model is gone")
    spec = _lead_spec(tryout.model_version)

    def display() -> np.ndarray:
        array = model_input(read(tryout.file.name), dicom=tryout.kind != ImageKind.IMAGE, spec=spec)
        return array if array.dtype == np.uint8 else _png_rgb(read(tryout.display.name))

    name = _render_overlay(tryout, display)
    if not TryOut.objects.filter(pk=tryout.pk).update(overlay=name):
        # Discarded or expired while rendering: leave no file behind.
        default_storage.delete(name)
        raise FileNotFoundError("the try-out is gone")
    return name


def tryout_png_name(tryout: TryOut, kind: str) -> str:
    """A try-out's stored PNG: 'image' (the frame the model saw) or 'overlay' (rendered on first use).

    Empty when there is none (yet, or any more), for every way in (the page, the REST API) to answer 404.
    """
    if kind == "image":
        return tryout.display.name
    if not (tryout.saliency_raw or tryout.overlay):
        return ""
    try:
        return tryout_overlay_name(tryout)
    except (FileNotFoundError, ValueError):
        return ""


def forget_renders(row: ScoredResult) -> None:
    """Delete the renderings of the row's current map, before a new map replaces it.

    Also the full-resolution files of a row written before issue 17: left in
    place, its ``saliency.png`` would be served as the new map's cache.
    """
    if not row.saliency_raw:
        return
    names = {_sibling(row.saliency_raw.name, "saliency.png"), _sibling(row.saliency_raw.name, "overlay.png")}
    for overlay in (getattr(row, "saliency_overlay", None), getattr(row, "overlay", None)):
        if overlay:
            names.add(overlay.name)
    for name in sorted(names):
        if default_storage.exists(name):
            default_storage.delete(name)


def _render_overlay(row: ScoredResult, display: Callable[[], np.ndarray]) -> str:
    saliency = stored_map(row)
    if saliency is None:
        raise FileNotFoundError("no saliency map")
    return put(_sibling(row.saliency_raw.name, "overlay.png"), overlay_png(display(), saliency.render()))


def _lead_spec(version: ModelVersion) -> PreprocessSpec:
    # Only the preprocessing of the registered card: what the worker decoded with.
    return PreprocessSpec.from_dict(version.card["preprocessing"])


def _png_rgb(data: bytes) -> np.ndarray:
    return np.asarray(PILImage.open(io.BytesIO(data)).convert("RGB"))


def _sibling(name: str, filename: str) -> str:
    folder, _, _ = name.rpartition("/")
    return f"{folder}/{filename}" if folder else filename
