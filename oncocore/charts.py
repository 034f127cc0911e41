"""Charts as inline SVG, drawn on matplotlib's own SVG canvas (no display, no pyplot): what every page shares.

For pages that put the chart straight into their HTML: the SVG text comes back
without its XML prologue, text stays text (``svg.fonttype: none``: small,
searchable, scales with the page), and no date is written into it, so the same
figures give the same SVG. The comparison, shadow and analytics pages draw
their confusion matrices with :func:`draw_confusion`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.image import AxesImage


def svg_element(fig: Figure, *, title: str | None = None, salt: str = "oncoportal") -> str:
    """The figure as an ``<svg>`` element; with ``title``, an accessible one (role img, class chart, <title>)."""
    FigureCanvasSVG(fig)
    fig.tight_layout()
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": title or salt}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    start = text.index("<svg")
    if title is None:
        return text[start:]
    head_end = text.index(">", start) + 1
    head = text[start:head_end].replace("<svg", '<svg role="img" class="chart"', 1)
    return f"{head}<title>{escape(title)}</title>{text[head_end:]}"


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def draw_confusion(
    ax: Axes,
    counts: np.ndarray | Sequence[Sequence[int]],
    rows: Sequence[str],
    columns: Sequence[str],
    *,
    row_axis: str,
    column_axis: str,
    shares: bool = True,
    fontsize: int = 8,
) -> AxesImage:
    """A row-normalised heat map on ``ax``, each cell its count (and, with ``shares``, its row share).

    Returns the image, for a colour bar.
    """
    cm = np.asarray(counts, dtype=np.float64).reshape(len(rows), len(columns))
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    image = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(columns)), list(columns), rotation=30, ha="right", fontsize=fontsize)
    ax.set_yticks(range(len(rows)), list(rows), fontsize=fontsize)
    ax.set_xlabel(column_axis, fontsize=fontsize + 1)
    ax.set_ylabel(row_axis, fontsize=fontsize + 1)
    for i in range(len(rows)):
        for j in range(len(columns)):
            ax.text(
                j,
                i,
                f"{int(cm[i, j])}\n{norm[i, j]:.0%}" if shares else f"{int(cm[i, j])}",
                ha="center",
                va="center",
                fontsize=fontsize,
                color="white" if norm[i, j] > 0.5 else "black",
            )
    return image


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
    fig = Figure(figsize=(1.0 * len(columns) + 2.4, 0.8 * len(rows) + 1.9))
    ax = fig.add_subplot()
    draw_confusion(ax, cm, rows, columns, row_axis=row_axis, column_axis=column_axis)
    ax.set_title(title, fontsize=10)
    return svg_element(fig)
