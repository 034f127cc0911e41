"""A recent window against the reference: a status per measure and overall, on documented thresholds."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .inputs import IMAGE_STATS, LABELS
from .measures import SMOOTHING, binomial_sf, psi, psi_p_value

STATUS_ORDER = ("ok", "watch", "drift")


@dataclass(frozen=True)
class Thresholds:
    """When a measure reads "watch" or "drift" (docs/drift.md says why these values).

    A distribution measure needs both a large enough PSI (the size of the
    shift) and a small enough p-value of that PSI (``psi_p_value``: that it
    is not the noise of a small window); the
    out-of-scope share needs an excess over the reference's rate and a
    one-sided binomial p-value. Below ``min_images`` a measure (and a window)
    says nothing.
    """

    psi_watch: float = 0.10
    psi_drift: float = 0.25
    p_watch: float = 0.01
    p_drift: float = 0.001
    scope_watch: float = 0.05
    scope_drift: float = 0.15
    min_images: int = 30

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Measure:
    """One distribution (or the out-of-scope share) of a window against the reference.

    Attributes:
        name: ``classes``, ``confidence``, ``out_of_scope`` or an image statistic.
        kind: ``psi`` (``value`` is the PSI) or ``rate`` (``value`` is the excess share).
        value: The measure; None with too few images.
        p_value: Of the test beside it; None with too few images, or a PSI below the watch threshold.
        n: Images of the window the measure counted.
        status: ``ok``, ``watch``, ``drift`` or ``too_few``.
        bins: Bin labels (class names, or ``lo-hi`` ranges).
        reference: The reference's shares per bin (unsmoothed).
        recent: The window's shares per bin (unsmoothed; zeros when empty).
    """

    name: str
    kind: str
    value: float | None
    p_value: float | None
    n: int
    status: str
    bins: list[str] = field(default_factory=list)
    reference: list[float] = field(default_factory=list)
    recent: list[float] = field(default_factory=list)

    @property
    def label(self) -> str:
        return LABELS.get(self.name, self.name)


@dataclass
class DriftReport:
    """A window against a reference: the overall status and every measure."""

    status: str  # ok, watch, drift, too_few
    n: int
    measures: list[Measure]

    @property
    def flagged(self) -> list[Measure]:
        """The measures that read watch or drift, worst first."""
        moved = [m for m in self.measures if m.status in ("watch", "drift")]
        return sorted(moved, key=lambda m: (-STATUS_ORDER.index(m.status), -(m.value or 0.0)))

    def measure(self, name: str) -> Measure | None:
        return next((m for m in self.measures if m.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "n": self.n, "measures": [asdict(m) for m in self.measures]}


def _shares(counts: Sequence[float]) -> list[float]:
    total = float(sum(counts))
    return [round(c / total, 4) if total else 0.0 for c in counts]


def _bin_labels(name: str, edges: Sequence[float]) -> list[str]:
    if name == "channels" and list(edges) == [0.5, 1.5, 3.5]:
        return ["grey", "colour"]
    return [f"{lo:g}-{hi:g}" for lo, hi in itertools.pairwise(edges)]


def _psi_status(value: float, p: float, t: Thresholds) -> str:
    if value >= t.psi_drift and p < t.p_drift:
        return "drift"
    if value >= t.psi_watch and p < t.p_watch:
        return "watch"
    return "ok"


def _distribution(
    name: str, bins: list[str], ref: Sequence[float], recent: Sequence[float], t: Thresholds
) -> Measure:
    n = int(sum(recent))
    measure = Measure(name, "psi", None, None, n, "too_few", bins, _shares(ref), _shares(recent))
    if n < t.min_images or sum(ref) == 0:
        return measure
    value = psi(ref, recent)
    measure.value, measure.status = round(value, 4), "ok"
    if value >= t.psi_watch:  # below it no p-value could make it more than ok: no bootstrap
        measure.p_value = psi_p_value(ref, recent)
        measure.status = _psi_status(value, measure.p_value, t)
    return measure


def _out_of_scope(ref: Mapping[str, int], recent: Mapping[str, int], t: Thresholds) -> Measure:
    n, out = int(recent.get("checked", 0)), int(recent.get("out", 0))
    ref_n, ref_out = int(ref.get("checked", 0)), int(ref.get("out", 0))
    bins = ["in scope", "out of scope"]
    measure = Measure(
        "out_of_scope",
        "rate",
        None,
        None,
        n,
        "too_few",
        bins,
        _shares([ref_n - ref_out, ref_out]),
        _shares([n - out, out]),
    )
    if n < t.min_images or ref_n == 0:
        return measure
    # The reference's rate, smoothed like a bin: a check that flagged none of the validation
    # images still has some chance of flagging a like image.
    base = (ref_out + SMOOTHING) / (ref_n + 2 * SMOOTHING)
    excess = out / n - ref_out / ref_n
    p = binomial_sf(out, n, base)
    measure.value, measure.p_value, measure.status = round(excess, 4), p, "ok"
    if excess >= t.scope_drift and p < t.p_drift:
        measure.status = "drift"
    elif excess >= t.scope_watch and p < t.p_watch:
        measure.status = "watch"
    return measure


def compare(
    reference: Mapping[str, Any], recent: Mapping[str, Any], thresholds: Thresholds | None = None
) -> DriftReport:
    """Measure a recent window's summary against the reference's (both from :func:`summarize`).

    The overall status is the worst measure's; ``too_few`` when the window has
    fewer than ``min_images`` inputs.

    Raises:
        ValueError: The summaries were counted on different bins or classes.
    """
    t = thresholds or Thresholds()
    if list(reference["classes"]["names"]) != list(recent["classes"]["names"]):
        raise ValueError("the window was counted on other classes than the reference")
    measures = [
        _distribution(
            "classes",
            list(reference["classes"]["names"]),
            reference["classes"]["counts"],
            recent["classes"]["counts"],
            t,
        ),
        _out_of_scope(reference["scope"], recent["scope"], t),
    ]
    for name in ("confidence", *IMAGE_STATS):
        ref_h, rec_h = reference["hists"].get(name), recent["hists"].get(name)
        if ref_h is None or rec_h is None:
            continue
        if list(ref_h["edges"]) != list(rec_h["edges"]):
            raise ValueError(f"{name}: the window was binned on other edges than the reference")
        measures.append(
            _distribution(name, _bin_labels(name, ref_h["edges"]), ref_h["counts"], rec_h["counts"], t)
        )
    n = int(recent["n"])
    if n < t.min_images:
        return DriftReport("too_few", n, measures)
    rated = [m.status for m in measures if m.status in STATUS_ORDER]
    status = max(rated, key=STATUS_ORDER.index) if rated else "ok"
    return DriftReport(status, n, measures)
