"""The comparison page's figures as inline SVG, drawn with matplotlib's SVG canvas.

Each function takes an evaluation's stored ``results`` (:mod:`.compare`) and
returns an ``<svg>`` element as text (no XML prologue), so a page can embed
it. ``Figure`` is used directly instead of pyplot: no display, no global state.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from oncocore.charts import draw_confusion, svg_element
from oncocore.training.metrics import reliability_bins, roc_auc, roc_curve

from .compare import CANDIDATE, CHAMPION, results_arrays

#: Line colours per side (the page's legend uses the same).
COLOURS = {CANDIDATE: "#c2410c", CHAMPION: "#1d4ed8"}
RELIABILITY_BINS = 10


def _sides(results: dict[str, Any]) -> list[str]:
    return [side for side in (CHAMPION, CANDIDATE) if side in results.get("sides", {})]


def _title(results: dict[str, Any], side: str) -> str:
    return f"{side}: {results['sides'][side]['label']}"


def confusion_svg(results: dict[str, Any]) -> str:
    """The two confusion matrices side by side (champion left): counts and the share of the true class."""
    names = results["class_names"]
    sides = _sides(results)
    k = len(names)
    fig = Figure(figsize=(len(sides) * (0.9 * k + 2.2), 0.9 * k + 2.0))
    for n, side in enumerate(sides, start=1):
        ax = fig.add_subplot(1, len(sides), n)
        cm = results["sides"][side]["metrics"]["confusion_matrix"]
        draw_confusion(
            ax, cm, names, names, row_axis="true", column_axis="predicted", shares=False, fontsize=8
        )
        ax.set_title(_title(results, side), fontsize=8, color=COLOURS[side])
    return svg_element(fig)


def roc_svg(results: dict[str, Any]) -> str:
    """One panel per class: each side's one-vs-rest ROC curve and AUC (a class without positives is skipped)."""
    names = results["class_names"]
    targets, probs = results_arrays(results)
    shown = [i for i in range(len(names)) if 0 < int(np.sum(targets == i)) < len(targets)]
    cols = min(max(len(shown), 1), 4)
    rows = max(1, -(-len(shown) // cols))
    fig = Figure(figsize=(2.7 * cols, 2.7 * rows + 0.2))
    for n, i in enumerate(shown, start=1):
        ax = fig.add_subplot(rows, cols, n)
        positive = targets == i
        for side in _sides(results):
            fpr, tpr = roc_curve(probs[side][:, i], positive)
            auc = roc_auc(probs[side][:, i], positive)
            ax.plot(fpr, tpr, color=COLOURS[side], lw=1.4, label=f"{side} {auc:.3f}")
        ax.plot([0, 1], [0, 1], "k:", lw=0.7)
        ax.set_title(names[i], fontsize=9)
        ax.set_xlabel("1 - specificity", fontsize=7)
        ax.set_ylabel("sensitivity", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.legend(loc="lower right", fontsize=6, title="AUC", title_fontsize=6)
    if not shown:
        fig.text(0.5, 0.5, "no class has both positives and negatives", ha="center")
    return svg_element(fig)


def reliability_svg(results: dict[str, Any], n_bins: int = RELIABILITY_BINS) -> str:
    """Reliability diagram: accuracy against mean confidence per confidence bin, both sides; ECE in the legend."""
    targets, probs = results_arrays(results)
    fig = Figure(figsize=(4.6, 4.2))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], "k:", lw=0.8, label="perfect calibration")
    for side in _sides(results):
        bins = reliability_bins(probs[side], targets, n_bins)
        used = bins["count"] > 0
        ece = results["sides"][side]["metrics"].get("ece")
        ax.plot(
            bins["confidence"][used],
            bins["accuracy"][used],
            marker="o",
            ms=4,
            color=COLOURS[side],
            label=f"{side} (ECE {ece:.3f})" if ece is not None else side,
        )
    ax.set_xlim(-0.02, 1.02)  # points at 0 or 1 stay whole
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("confidence (top class)")
    ax.set_ylabel("accuracy")
    ax.legend(loc="upper left", fontsize=7)
    return svg_element(fig)


def all_svgs(results: dict[str, Any]) -> dict[str, str]:
    """Every figure of the page, by name: confusion, roc, reliability."""
    return {
        "confusion": confusion_svg(results),
        "roc": roc_svg(results),
        "reliability": reliability_svg(results),
    }
