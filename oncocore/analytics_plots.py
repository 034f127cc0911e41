"""The analytics page's figures as inline SVG, drawn on matplotlib's SVG canvas (no display, no pyplot).

Each function takes plain numbers (``oncocore.analytics`` results) and
readable names, and returns an ``<svg>`` element (no XML prologue) to place in
a page. Text stays text (``svg.fonttype`` none), so the figure is small,
searchable and scales with the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .analytics import ConfusionReport, DurationSummary, WeeklyShare
from .charts import draw_confusion, svg_element

HOUR = 3600.0


def _week_axis(ax: Axes, weeks: Sequence[str]) -> None:
    """Weeks along x: every week a tick, about eight labelled."""
    step = max(1, len(weeks) // 8)
    ax.set_xticks(range(len(weeks)))
    ax.set_xticklabels(
        [w if i % step == 0 else "" for i, w in enumerate(weeks)], rotation=35, ha="right", fontsize=8
    )
    ax.set_xlim(-0.5, max(len(weeks) - 0.5, 0.5))


def confusion_svg(report: ConfusionReport, names: Sequence[str], *, title: str) -> str:
    """Heatmap of the row shares (final label rows, AI label columns), each cell its count and share."""
    k = len(names)
    fig = Figure(figsize=(1.1 * k + 2.6, 0.9 * k + 1.9))
    ax = fig.add_subplot()
    image = draw_confusion(ax, report.matrix, names, names, row_axis="final label", column_axis="AI label")
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the final class")
    return svg_element(fig, title=title)


def sensitivity_specificity_svg(report: ConfusionReport, names: Sequence[str], *, title: str) -> str:
    """Grouped bars per class: sensitivity and specificity (a missing bar: undefined, no such images)."""
    k = len(names)
    x = np.arange(k)
    sens = [c.sensitivity if c.sensitivity is not None else np.nan for c in report.per_class]
    spec = [c.specificity if c.specificity is not None else np.nan for c in report.per_class]
    fig = Figure(figsize=(max(4.0, 1.1 * k + 1.5), 3.2))
    ax = fig.add_subplot()
    ax.bar(x - 0.2, sens, width=0.4, label="sensitivity", color="#2b6cb0")
    ax.bar(x + 0.2, spec, width=0.4, label="specificity", color="#9ac1e6")
    for offset, values in ((-0.2, sens), (0.2, spec)):
        for xi, value in zip(x, values, strict=True):
            if not np.isnan(value):
                ax.text(xi + offset, value + 0.02, f"{value:.2f}", ha="center", fontsize=7)
    ax.set_xticks(x, names, rotation=20, ha="right")
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("one class against the rest")
    ax.legend(loc="lower right", fontsize=8)
    return svg_element(fig, title=title)


def agreement_svg(series: Mapping[str, Sequence[WeeklyShare]], weeks: Sequence[str], *, title: str) -> str:
    """Per model version, the weekly share of final labels equal to the AI label (0-1)."""
    fig = Figure(figsize=(6.4, 3.2))
    ax = fig.add_subplot()
    position = {w: i for i, w in enumerate(weeks)}
    for name, points in series.items():
        shown = [(position[p.week], p.agreed / p.n) for p in points if p.week in position and p.n]
        ax.plot([x for x, _ in shown], [y for _, y in shown], marker="o", markersize=4, label=name)
    _week_axis(ax, weeks)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("AI label = final label")
    if series:
        ax.legend(loc="lower left", fontsize=7)
    return svg_element(fig, title=title)


def turnaround_svg(
    stages: Mapping[str, Sequence[tuple[str, DurationSummary]]],
    names: Mapping[str, str],
    weeks: Sequence[str],
    *,
    title: str,
) -> str:
    """Per stage, the weekly median (solid) and p90 (dashed), in hours (minutes when all are under two hours)."""
    fig = Figure(figsize=(6.4, 3.4))
    ax = fig.add_subplot()
    position = {w: i for i, w in enumerate(weeks)}
    longest = max((s.p90 or 0 for points in stages.values() for _, s in points), default=0.0)
    unit, per = ("minutes", 60.0) if longest < 2 * HOUR else ("hours", HOUR)
    for index, (stage, points) in enumerate(stages.items()):
        shown = [(position[w], s) for w, s in points if w in position and s.median is not None]
        xs = [x for x, _ in shown]
        color = f"C{index}"
        name = names.get(stage, stage)
        medians = [(s.median or 0) / per for _, s in shown]
        p90s = [(s.p90 or 0) / per for _, s in shown]
        ax.plot(xs, medians, marker="o", markersize=4, color=color, label=f"{name} median")
        ax.plot(xs, p90s, linestyle="--", color=color, label=f"{name} p90")
    _week_axis(ax, weeks)
    ax.set_ylim(0, max(1.0, longest / per * 1.6))  # headroom for the legend
    ax.set_ylabel(f"{unit} since upload")
    if stages:
        ax.legend(loc="upper left", fontsize=7, ncol=2)
    return svg_element(fig, title=title)
