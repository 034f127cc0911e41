"""AI-vs-reader analytics from plain rows: confusion matrix, per-class figures, agreement per week, turnaround.

No Django: the lifecycle app gathers rows from the database and hands them
here (``lifecycle.selectors_analytics``); notebooks can call the same code.
The definitions are in docs/analytics.md. In every matrix the rows are the
final (true) label and the columns the AI label.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

from .stats import cohen_kappa, sensitivity_specificity

#: The percentile given beside the median of a turnaround (numpy's default, linear interpolation).
TURNAROUND_PERCENTILE = 90.0


@dataclass(frozen=True)
class ClassFigures:
    """One class against the rest: counts and sensitivity/specificity (None when undefined)."""

    name: str
    true: int  # images whose final label is this class
    predicted: int  # images the AI gave this class
    correct: int  # both
    sensitivity: float | None
    specificity: float | None


@dataclass(frozen=True)
class ConfusionReport:
    """AI labels against final labels on the same images."""

    classes: list[str]
    matrix: list[list[int]]  # [final][ai]
    n: int
    correct: int
    accuracy: float | None
    kappa: float | None
    per_class: list[ClassFigures]

    def row_shares(self) -> list[list[float | None]]:
        """Each cell over its row total (the share of a final class the AI gave each label)."""
        return [[c / sum(row) if sum(row) else None for c in row] for row in self.matrix]


def ordered_classes(known: Sequence[str], seen: Iterable[str]) -> list[str]:
    """The task's classes in their own order, then any other label seen (sorted): no label is dropped."""
    extra = sorted({s for s in seen if s not in set(known)})
    return [*known, *extra]


def confusion_report(pairs: Sequence[tuple[str, str]], classes: Sequence[str]) -> ConfusionReport:
    """The confusion matrix of ``(ai_label, final_label)`` pairs over ``classes`` (extended by any label seen)."""
    names = ordered_classes(classes, (label for pair in pairs for label in pair))
    index = {name: i for i, name in enumerate(names)}
    matrix = np.zeros((len(names), len(names)), dtype=np.int64)
    for ai, final in pairs:
        matrix[index[final], index[ai]] += 1
    n = int(matrix.sum())
    correct = int(np.trace(matrix))
    figures = sensitivity_specificity(matrix) if n else [(None, None)] * len(names)
    per_class = [
        ClassFigures(
            name=name,
            true=int(matrix[i, :].sum()),
            predicted=int(matrix[:, i].sum()),
            correct=int(matrix[i, i]),
            sensitivity=sens,
            specificity=spec,
        )
        for i, (name, (sens, spec)) in enumerate(zip(names, figures, strict=True))
    ]
    return ConfusionReport(
        classes=names,
        matrix=matrix.tolist(),
        n=n,
        correct=correct,
        accuracy=correct / n if n else None,
        kappa=cohen_kappa([f for _, f in pairs], [a for a, _ in pairs], labels=names) if n else None,
        per_class=per_class,
    )


@dataclass(frozen=True)
class ReaderAgreement:
    """Two independent readings of the same images: how often they agree, and Cohen's kappa."""

    n: int
    agreed: int
    observed: float | None
    kappa: float | None


def reader_agreement(
    pairs: Sequence[tuple[str, str]], labels: Sequence[str] | None = None
) -> ReaderAgreement:
    """Agreement of ``(first reading, second reading)`` pairs; '' (non-diagnostic) is a category of its own."""
    n = len(pairs)
    agreed = sum(1 for a, b in pairs if a == b)
    names = ordered_classes(labels or [], (x for pair in pairs for x in pair))
    return ReaderAgreement(
        n=n,
        agreed=agreed,
        observed=agreed / n if n else None,
        kappa=cohen_kappa([a for a, _ in pairs], [b for _, b in pairs], labels=names) if n else None,
    )


def iso_week(moment: date | datetime) -> str:
    """The ISO 8601 week of a day, as '2025-W07' (weeks start on Monday; week 1 holds the first Thursday)."""
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def weeks_between(first: date, last: date) -> list[str]:
    """Every ISO week from the one holding ``first`` to the one holding ``last``, in order."""
    if last < first:
        return []
    monday = first - timedelta(days=first.weekday())
    weeks = []
    while monday <= last:
        weeks.append(iso_week(monday))
        monday += timedelta(weeks=1)
    return weeks


@dataclass(frozen=True)
class WeeklyShare:
    """One week's agreement: images with both labels, those where the AI label equals the final label."""

    week: str
    n: int
    agreed: int

    @property
    def share(self) -> float | None:
        return self.agreed / self.n if self.n else None


def agreement_by_week(rows: Iterable[tuple[str, str, str, str]]) -> dict[str, list[WeeklyShare]]:
    """``(series, week, ai_label, final_label)`` rows -> per series (model version) its weeks with data, in order."""
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for series, week, ai, final in rows:
        cell = counts[series][week]
        cell[0] += 1
        cell[1] += ai == final
    return {
        series: [WeeklyShare(week, n, agreed) for week, (n, agreed) in sorted(weeks.items())]
        for series, weeks in sorted(counts.items())
    }


@dataclass(frozen=True)
class DurationSummary:
    """Durations in seconds: how many, their median and 90th percentile (None without any)."""

    n: int
    median: float | None
    p90: float | None


def duration_summary(seconds: Sequence[float]) -> DurationSummary:
    """Median and p90 (linear interpolation between order statistics, numpy's default) of some durations."""
    if not seconds:
        return DurationSummary(0, None, None)
    values = np.asarray(seconds, dtype=np.float64)
    return DurationSummary(
        n=len(values),
        median=float(np.median(values)),
        p90=float(np.percentile(values, TURNAROUND_PERCENTILE)),
    )


def turnaround_by_week(
    rows: Iterable[tuple[str, str, float]],
) -> dict[str, list[tuple[str, DurationSummary]]]:
    """``(stage, week, seconds)`` rows -> per stage its weeks with data and their summary, in week order."""
    grouped: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for stage, week, seconds in rows:
        grouped[stage][week].append(seconds)
    return {
        stage: [(week, duration_summary(values)) for week, values in sorted(weeks.items())]
        for stage, weeks in grouped.items()
    }
