"""What drift watch records of each scored input, and how a set of them is counted into a summary."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

SCHEMA = 1
#: uint8 values below this (about 0.05 of full scale) count as near-black: air, padding, background.
DARK_LEVEL = 13
#: The image statistics :func:`input_stats` takes, in display order.
IMAGE_STATS = ("mean", "std", "dark", "height", "width", "channels")
#: Fixed bin edges of each histogram; values outside fall into the end bins.
DEFAULT_EDGES: dict[str, list[float]] = {
    "confidence": [round(0.1 * i, 1) for i in range(11)],
    "mean": [round(0.1 * i, 1) for i in range(11)],  # intensity, scaled to [0, 1]
    "std": [round(0.05 * i, 2) for i in range(11)],  # at most 0.5 on [0, 1]
    "dark": [round(0.1 * i, 1) for i in range(11)],  # share of near-black pixels
    "height": [0, 128, 256, 384, 512, 768, 1024, 2048, 4096],  # pixels of the decoded image
    "width": [0, 128, 256, 384, 512, 768, 1024, 2048, 4096],
    "channels": [0.5, 1.5, 3.5],  # grayscale | colour
}
#: What each measure is called on the page.
LABELS = {
    "classes": "predicted classes",
    "confidence": "confidence",
    "out_of_scope": "out-of-scope share",
    "mean": "mean intensity",
    "std": "intensity spread",
    "dark": "near-black share",
    "height": "image height",
    "width": "image width",
    "channels": "channels",
}


def input_stats(array: np.ndarray, seen: np.ndarray) -> dict[str, float]:
    """Simple statistics of one model input, stored with its result for drift watch.

    Intensities are taken from what the model saw (after windowing, cropping
    and resizing, as uint8), so raw CT, MR and 8-bit images are on one
    scale; the size and channels from the decoded image.

    Args:
        array: The decoded model input, (H, W) or (H, W, C).
        seen: Its stage-A uint8 input, (C, S, S).

    Returns:
        ``mean`` and ``std`` of the intensities scaled to [0, 1], ``dark`` (share
        of values below :data:`DARK_LEVEL`), ``height``, ``width``, ``channels``.
    """
    values = np.asarray(seen).reshape(-1)
    scaled = values.astype(np.float32)
    return {
        "mean": round(float(scaled.mean()) / 255.0, 4),
        "std": round(float(scaled.std()) / 255.0, 4),
        "dark": round(float(np.count_nonzero(values < DARK_LEVEL)) / max(values.size, 1), 4),
        "height": int(array.shape[0]),
        "width": int(array.shape[1]),
        "channels": int(array.shape[2]) if array.ndim == 3 else 1,
    }


class Observation(NamedTuple):
    """One scored input as drift watch sees it.

    ``label`` and ``confidence`` are empty for an input outside the model's
    scope (``in_scope`` False); ``in_scope`` is None when the model has no check.
    """

    label: str
    confidence: float | None
    in_scope: bool | None
    stats: Mapping[str, Any] | None


def _histogram(values: Sequence[float], edges: Sequence[float]) -> list[int]:
    if not values:
        return [0] * (len(edges) - 1)
    # Clip into the outer bins: a value beyond the edges still counts (as the nearest end).
    clipped = np.clip(np.asarray(values, dtype=np.float64), edges[0], edges[-1])
    counts, _ = np.histogram(clipped, bins=np.asarray(edges, dtype=np.float64))
    return [int(c) for c in counts]


def summarize(
    observations: Iterable[Observation],
    *,
    class_names: Sequence[str],
    edges: Mapping[str, Sequence[float]] | None = None,
) -> dict[str, Any]:
    """Count observations into the summary :func:`compare` reads (JSON-able; a reference's ``stats``).

    Class counts and the confidence histogram take the inputs given a class
    (in scope); the image statistics every input that has them.

    Args:
        observations: The scored inputs.
        class_names: The model's classes (a label outside them is not counted).
        edges: Bin edges per histogram; default :data:`DEFAULT_EDGES`. Pass the
            reference's edges for a recent window so both are binned alike.
    """
    edges = {**DEFAULT_EDGES, **(edges or {})}
    n = checked = out = 0
    labels: list[str] = []
    values: dict[str, list[float]] = {name: [] for name in ("confidence", *IMAGE_STATS)}
    for obs in observations:
        n += 1
        if obs.in_scope is not None:
            checked += 1
            out += obs.in_scope is False
        if obs.in_scope is not False and obs.label:
            labels.append(obs.label)
            if obs.confidence is not None:
                values["confidence"].append(float(obs.confidence))
        for name in IMAGE_STATS:
            value = (obs.stats or {}).get(name)
            if isinstance(value, (int, float)) and math.isfinite(value):
                values[name].append(float(value))
    return {
        "schema": SCHEMA,
        "n": n,
        "classes": {"names": list(class_names), "counts": [labels.count(c) for c in class_names]},
        "scope": {"checked": checked, "out": out},
        "hists": {
            name: {"edges": list(edges[name]), "counts": _histogram(vals, edges[name])}
            for name, vals in values.items()
        },
    }


def summary_edges(summary: Mapping[str, Any]) -> dict[str, list[float]]:
    """The bin edges a summary was counted on, to count another window alike."""
    return {name: list(h["edges"]) for name, h in summary.get("hists", {}).items()}
