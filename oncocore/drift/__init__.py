"""Drift watch, with no database: what each scored input looked like, and how far recent inputs moved.

Three steps, each a pure function:

1. :func:`input_stats` runs in the one scoring path (``oncocore.scoring``) for
   every decoded input: the mean, spread and near-black share of the
   intensities the model saw, plus the decoded image's height, width and
   channels.
2. :func:`summarize` counts a set of scored inputs (:class:`Observation`) into
   a JSON-able summary: predicted-class counts, out-of-scope count and
   histograms on fixed bin edges. A model's validation images give its
   reference (``lifecycle.DriftReference.stats``); a week of cases gives one
   recent window, binned on the reference's own edges.
3. :func:`compare` measures the recent summary against the reference: the
   population stability index (PSI) of each distribution and the excess
   out-of-scope share, each with a significance test, and a status per
   measure and overall (thresholds in :class:`Thresholds`, reasons in
   docs/drift.md).
"""

from .inputs import (
    DARK_LEVEL,
    DEFAULT_EDGES,
    IMAGE_STATS,
    LABELS,
    Observation,
    input_stats,
    summarize,
    summary_edges,
)
from .measures import SMOOTHING, binomial_sf, psi, psi_p_value, smoothed_shares
from .report import STATUS_ORDER, DriftReport, Measure, Thresholds, compare

__all__ = [
    "DARK_LEVEL",
    "DEFAULT_EDGES",
    "IMAGE_STATS",
    "LABELS",
    "SMOOTHING",
    "STATUS_ORDER",
    "DriftReport",
    "Measure",
    "Observation",
    "Thresholds",
    "binomial_sf",
    "compare",
    "input_stats",
    "psi",
    "psi_p_value",
    "smoothed_shares",
    "summarize",
    "summary_edges",
]
