"""Drift watch figures as small inline SVG, written directly (no matplotlib: a page of them costs microseconds).

Two figures per task: the distributions, validation against the recent
window (one small panel of paired bars per measure, its PSI and status in
the title), and the PSI of each measure per ISO week with the watch and
drift thresholds dashed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from .inputs import LABELS
from .report import Measure, Thresholds

REFERENCE_COLOUR = "#9aa5b1"
RECENT_COLOUR = "#1f6fb2"
STATUS_COLOURS = {"ok": "#2e7d4f", "watch": "#b07800", "drift": "#b3261e", "too_few": "#6b7785"}
SERIES_COLOURS = (
    "#1f6fb2",
    "#d9480f",
    "#2b8a3e",
    "#7048e8",
    "#c2255c",
    "#0b7285",
    "#5c940d",
    "#e67700",
    "#495057",
)
FONT = 'font-family="system-ui, sans-serif"'

PANEL_W, PANEL_H = 240, 150
PLOT_L, PLOT_R, PLOT_T, PLOT_B = 30, 8, 22, 42  # margins inside a panel


def _text(
    x: float,
    y: float,
    text: str,
    *,
    size: int = 9,
    anchor: str = "start",
    fill: str = "#333",
    rotate: bool = False,
) -> str:
    turn = f' transform="rotate(-40 {x:.1f} {y:.1f})"' if rotate else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}" {FONT}{turn}>'
        f"{escape(text)}</text>"
    )


def _figure_title(m: Measure) -> str:
    if m.value is None:
        figure = "too few images"
    elif m.kind == "psi":
        figure = f"PSI {m.value:.2f}"
    else:
        figure = f"{m.value:+.0%} vs validation"
    return f"{LABELS.get(m.name, m.name)}: {figure}"


def _panel(m: Measure, x0: float, y0: float) -> list[str]:
    """Paired bars (validation grey, recent blue) of one measure's shares, at (x0, y0)."""
    w, h = PANEL_W - PLOT_L - PLOT_R, PANEL_H - PLOT_T - PLOT_B
    left, top = x0 + PLOT_L, y0 + PLOT_T
    k = max(len(m.bins), 1)
    slot = w / k
    recent = m.recent or [0.0] * len(m.bins)
    top_share = max([*m.reference, *recent, 0.05])
    scale = h / top_share
    parts = [_text(x0 + 4, y0 + 13, _figure_title(m), size=10, fill=STATUS_COLOURS.get(m.status, "#333"))]
    parts.append(
        f'<line x1="{left}" y1="{top + h}" x2="{left + w}" y2="{top + h}" stroke="#999" stroke-width="0.6"/>'
    )
    parts.append(_text(left - 3, top + 4, f"{top_share:.0%}", size=7, anchor="end", fill="#777"))
    parts.append(_text(left - 3, top + h, "0", size=7, anchor="end", fill="#777"))
    for i, (label, ref, rec) in enumerate(zip(m.bins, m.reference, recent, strict=False)):
        bx = left + i * slot
        bar = slot * 0.4
        for dx, share, colour, who in (
            (0.1, ref, REFERENCE_COLOUR, "validation"),
            (0.5, rec, RECENT_COLOUR, "recent"),
        ):
            bh = share * scale
            parts.append(
                f'<rect x="{bx + dx * slot:.1f}" y="{top + h - bh:.1f}" width="{bar:.1f}" height="{bh:.1f}" '
                f'fill="{colour}"><title>{escape(label)}, {who}: {share:.1%}</title></rect>'
            )
        parts.append(_text(bx + slot / 2, top + h + 9, label, size=7, anchor="end", rotate=True))
    return parts


def distributions_svg(measures: Sequence[Measure], *, columns: int = 3) -> str:
    """One panel of paired bars per measure: the validation shares (grey) and the recent ones (blue)."""
    shown = [m for m in measures if m.bins]
    rows = max(1, -(-len(shown) // columns))
    width, height = PANEL_W * columns, PANEL_H * rows + 18
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="Distributions, validation against recent">',
        f'<rect x="4" y="5" width="10" height="8" fill="{REFERENCE_COLOUR}"/>',
        _text(18, 12, "validation", size=9),
        f'<rect x="84" y="5" width="10" height="8" fill="{RECENT_COLOUR}"/>',
        _text(98, 12, "recent", size=9),
    ]
    for i, m in enumerate(shown):
        parts += _panel(m, (i % columns) * PANEL_W, 18 + (i // columns) * PANEL_H)
    parts.append("</svg>")
    return "".join(parts)


def weekly_psi_svg(
    weeks: Sequence[str], series: Mapping[str, Sequence[float | None]], thresholds: Thresholds
) -> str:
    """The PSI of each measure per ISO week (no point where a week had too few images), thresholds dashed."""
    width, height = 640, 220
    left, right, top, bottom = 40, 150, 12, 28
    w, h = width - left - right, height - top - bottom
    values = [v for vals in series.values() for v in vals if v is not None]
    # Up to 1 at most: a far larger PSI (an unlike stream reads 5 or more) would flatten the thresholds;
    # such a point sits on the top edge, its value in its tooltip.
    y_max = min(
        max([thresholds.psi_drift * 1.6, *[v * 1.1 for v in values]]), max(1.0, thresholds.psi_drift * 1.6)
    )
    n = max(len(weeks), 1)

    def px(i: int) -> float:
        return left + (w / 2 if n == 1 else i * w / (n - 1))

    def py(v: float) -> float:
        return top + h - min(v, y_max) / y_max * h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="PSI per week">',
        f'<line x1="{left}" y1="{top + h}" x2="{left + w}" y2="{top + h}" stroke="#999" stroke-width="0.6"/>',
        _text(left - 4, top + 8, f"{y_max:.2f}", size=8, anchor="end", fill="#777"),
        _text(left - 4, top + h, "0", size=8, anchor="end", fill="#777"),
    ]
    for name, value in (("watch", thresholds.psi_watch), ("drift", thresholds.psi_drift)):
        y = py(value)
        colour = STATUS_COLOURS[name]
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + w}" y2="{y:.1f}" stroke="{colour}" stroke-dasharray="4 3" stroke-width="0.8"/>'
        )
        parts.append(_text(left + w - 2, y - 3, f"{name} {value:g}", size=8, anchor="end", fill=colour))
    for i, week in enumerate(weeks):
        parts.append(_text(px(i), top + h + 14, week, size=8, anchor="middle"))
    for s, (name, vals) in enumerate(series.items()):
        colour = SERIES_COLOURS[s % len(SERIES_COLOURS)]
        points = [(px(i), py(v)) for i, v in enumerate(vals) if v is not None]
        # A line joins consecutive weeks only: a week with too few images leaves a gap.
        run: list[tuple[float, float]] = []
        for i, v in enumerate([*vals, None]):
            if v is not None:
                run.append((px(i), py(v)))
                continue
            if len(run) > 1:
                path = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.4"/>')
            run = []
        for (x, y), v in zip(points, [v for v in vals if v is not None], strict=True):
            label = escape(f"{LABELS.get(name, name)}: PSI {v:.3f}")
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.6" fill="{colour}"><title>{label}</title></circle>'
            )
        ly = top + 8 + s * 13
        parts.append(f'<rect x="{left + w + 12}" y="{ly - 7}" width="10" height="3" fill="{colour}"/>')
        parts.append(_text(left + w + 26, ly - 2, LABELS.get(name, name), size=8))
    parts.append("</svg>")
    return "".join(parts)
