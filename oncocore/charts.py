"""Confusion matrices as inline SVG, drawn on matplotlib's own SVG canvas (no display, no pyplot).

For pages that put the chart straight into their HTML: the SVG text comes back
without its XML prologue, text stays text (``svg.fonttype: none``), and no
date is written into it, so the same figures give the same SVG.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure


def confusion_svg(
    cm: np.ndarray | Sequence[Sequence[int]],
    rows: Sequence[str],
    columns: Sequence[str],
    *,
    title: str,
    row_axis: str = "final label",
    column_axis: str = "model",
) -> str:
    """A row-normalised heat map with the raw count and share in each cell, as an ``<svg>`` element.

    Args:
        cm: Counts, ``len(rows)`` by ``len(columns)``.
        rows: Row names (the truth, or the first model).
        columns: Column names (may add a "no class" column to the rows' classes).
        title: Drawn above the matrix.
        row_axis: The rows' axis label.
        column_axis: The columns' axis label.
    """
    counts = np.asarray(cm, dtype=np.float64).reshape(len(rows), len(columns))
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig = Figure(figsize=(1.0 * len(columns) + 2.4, 0.8 * len(rows) + 1.9))
    FigureCanvasSVG(fig)
    ax = fig.add_subplot()
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(columns)), list(columns), rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), list(rows), fontsize=8)
    ax.set_xlabel(column_axis, fontsize=9)
    ax.set_ylabel(row_axis, fontsize=9)
    ax.set_title(title, fontsize=10)
    for i in range(len(rows)):
        for j in range(len(columns)):
            ax.text(
                j,
                i,
                f"{int(counts[i, j])}\n{share[i, j]:.0%}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if share[i, j] > 0.5 else "black",
            )
    fig.tight_layout()
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "oncoportal"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]
