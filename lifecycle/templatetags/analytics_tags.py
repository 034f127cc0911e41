"""Number formats of the analytics page: undefined figures show as a dash, durations in hours."""

from __future__ import annotations

from django import template

register = template.Library()

DASH = "\u2014"


@register.filter
def figure(value: float | None, digits: int = 3) -> str:
    """``{{ x|figure }}``: a proportion or kappa to ``digits`` places; a dash when undefined."""
    return DASH if value is None else f"{value:.{int(digits)}f}"


@register.filter
def percent(value: float | None) -> str:
    """``{{ share|percent }}``: 0.8333 -> '83%'; a dash when undefined."""
    return DASH if value is None else f"{value:.0%}"


@register.filter
def hours(seconds: float | None) -> str:
    """``{{ seconds|hours }}``: '1.5 h' (minutes below an hour); a dash when undefined."""
    if seconds is None:
        return DASH
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
