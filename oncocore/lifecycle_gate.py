"""The promotion gate: may a candidate replace the champion? (issue 21, docs/promotion.md).

Plain Python, no Django. Both sides were scored on the same test images (an
evaluation); the candidate passes when it is not worse than the champion by
more than a margin on macro-F1 and on the sensitivity of every positive class
of the task (the tumours, the malignant, the carcinomas): a new model that
finds fewer cancers must not slip in behind a better average.

A check passes when ``candidate >= champion - margin``. A positive class with
no test image (support 0), or a figure missing from either side, fails: the
gate cannot judge what it was not shown.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

#: Float noise allowed at the boundary, so a drop of exactly the margin passes (0.80 - 0.02 is 0.7799...).
TOLERANCE = 1e-9

MACRO_F1 = "macro_f1"
SENSITIVITY = "sensitivity"


@dataclass(frozen=True)
class GateCheck:
    """One comparison of the gate.

    Attributes:
        name: ``macro_f1`` or ``sensitivity:<class>``.
        label: What a Curator reads ("Macro-F1", "Sensitivity of glioma").
        champion: The champion's figure (None when missing).
        candidate: The candidate's figure (None when missing).
        margin: How much lower the candidate may be.
        passed: Whether the candidate is within the margin.
        reason: The verdict in words, with the figures.
    """

    name: str
    label: str
    champion: float | None
    candidate: float | None
    margin: float
    passed: bool
    reason: str

    @property
    def difference(self) -> float | None:
        """Candidate minus champion (None when a figure is missing)."""
        if self.champion is None or self.candidate is None:
            return None
        return self.candidate - self.champion


@dataclass(frozen=True)
class GateVerdict:
    """Every check and the overall answer: passed only when every check passed."""

    checks: tuple[GateCheck, ...]
    margin_macro_f1: float
    margin_sensitivity: float
    positive_classes: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[GateCheck]:
        return [c for c in self.checks if not c.passed]

    def summary(self) -> str:
        """One line: passed, or which checks failed and why."""
        if self.passed:
            return f"passed all {len(self.checks)} checks"
        return "; ".join(c.reason for c in self.failures)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as a ModelChange and the audit trail keep it."""
        return {
            "passed": self.passed,
            "summary": self.summary(),
            "margins": {MACRO_F1: self.margin_macro_f1, SENSITIVITY: self.margin_sensitivity},
            "positive_classes": list(self.positive_classes),
            "checks": [asdict(c) for c in self.checks],
        }


def _figure(value: object) -> float | None:
    """A finite float, or None for a missing or undefined figure (NaN, None, not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _compare(
    *, name: str, label: str, champion: float | None, candidate: float | None, margin: float
) -> GateCheck:
    if champion is None or candidate is None:
        side = "champion" if champion is None else "candidate"
        return GateCheck(
            name, label, champion, candidate, margin, False, f"{label}: no figure for the {side}"
        )
    floor = champion - margin
    passed = candidate >= floor - TOLERANCE
    if passed:
        reason = f"{label} {candidate:.3f} is within {margin:.3f} of the champion's {champion:.3f}"
    else:
        reason = (
            f"{label} {candidate:.3f} is {champion - candidate:.3f} below the champion's {champion:.3f} "
            f"(margin {margin:.3f})"
        )
    return GateCheck(name, label, champion, candidate, margin, passed, reason)


def _class_metrics(metrics: Mapping[str, Any], cls: str) -> Mapping[str, Any]:
    per_class = metrics.get("per_class")
    row = per_class.get(cls) if isinstance(per_class, Mapping) else None
    return row if isinstance(row, Mapping) else {}


def gate_judge(
    *,
    champion: Mapping[str, Any],
    candidate: Mapping[str, Any],
    positive_classes: Iterable[str],
    margin_macro_f1: float,
    margin_sensitivity: float,
    class_labels: Mapping[str, str] | None = None,
) -> GateVerdict:
    """Judge a candidate against the champion on the same test images.

    Args:
        champion: The champion's metrics ({"macro_f1", "per_class": {cls: {"sensitivity", "support"}}}).
        candidate: The candidate's metrics, in the same shape.
        positive_classes: The task's positive findings; each one's sensitivity is checked.
        margin_macro_f1: How far below the champion's macro-F1 the candidate may be.
        margin_sensitivity: How far below the champion's sensitivity of a positive class it may be.
        class_labels: Readable class names for the reasons (the key when absent).

    Returns:
        The checks, macro-F1 first, then the positive classes in name order.
    """
    if margin_macro_f1 < 0 or margin_sensitivity < 0:
        raise ValueError("a gate margin cannot be negative")
    labels = class_labels or {}
    positives = tuple(sorted(set(positive_classes)))
    checks = [
        _compare(
            name=MACRO_F1,
            label="Macro-F1",
            champion=_figure(champion.get(MACRO_F1)),
            candidate=_figure(candidate.get(MACRO_F1)),
            margin=margin_macro_f1,
        )
    ]
    for cls in positives:
        label = f"Sensitivity of {labels.get(cls, cls)}"
        name = f"{SENSITIVITY}:{cls}"
        theirs, ours = _class_metrics(champion, cls), _class_metrics(candidate, cls)
        # Both sides saw the same images, so either side's support counts them.
        support = _figure(ours.get("support", theirs.get("support")))
        if not support:
            checks.append(
                GateCheck(
                    name,
                    label,
                    _figure(theirs.get(SENSITIVITY)),
                    _figure(ours.get(SENSITIVITY)),
                    margin_sensitivity,
                    False,
                    f"cannot judge sensitivity of {labels.get(cls, cls)}: no test images",
                )
            )
            continue
        checks.append(
            _compare(
                name=name,
                label=label,
                champion=_figure(theirs.get(SENSITIVITY)),
                candidate=_figure(ours.get(SENSITIVITY)),
                margin=margin_sensitivity,
            )
        )
    return GateVerdict(
        checks=tuple(checks),
        margin_macro_f1=margin_macro_f1,
        margin_sensitivity=margin_sensitivity,
        positive_classes=positives,
    )
