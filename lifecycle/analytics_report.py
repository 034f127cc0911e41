"""The analytics page's figures for one task: rows from ``selectors_analytics``, maths from ``oncocore.analytics``.

Read-only. ``analytics_report`` is what the page, the CSV download and any
other caller (an API, a notebook over the ORM) share; ``analytics_charts``
draws it; ``analytics_csv_rows`` lays it out as one long table.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from cases.models import User
from cases.task_registry import task_classes, task_get, task_label
from lifecycle.selectors_analytics import (
    AnalyticsFilters,
    CaseMilestones,
    Outcome,
    case_milestones,
    double_reads,
    image_outcomes,
)
from oncocore import analytics_plots
from oncocore.analytics import (
    ConfusionReport,
    DurationSummary,
    ReaderAgreement,
    WeeklyShare,
    agreement_by_week,
    confusion_report,
    duration_summary,
    iso_week,
    reader_agreement,
    turnaround_by_week,
    weeks_between,
)

#: The turnaround stages, each measured from the upload (the case's creation).
STAGES = {
    "predicted": "Upload → first AI result",
    "first_read": "Upload → first reading",
    "final": "Upload → final label",
}
NON_DIAGNOSTIC = "Non-diagnostic"


@dataclass(frozen=True)
class VersionFigures:
    """One model version's AI-vs-final summary (the images whose readers were shown it)."""

    version: str
    n: int
    accuracy: float | None
    kappa: float | None


@dataclass(frozen=True)
class AnalyticsReport:
    """Everything the analytics page shows for one task, version and date range."""

    filters: AnalyticsFilters
    task_name: str
    class_names: dict[str, str]  # class -> readable name ('' -> Non-diagnostic)
    confusion: ConfusionReport
    outcomes: dict[str, int]  # Outcome -> images
    versions: list[VersionFigures]
    readers: ReaderAgreement
    agreement: dict[str, list[WeeklyShare]]  # model version -> weeks with data
    turnaround: dict[str, list[tuple[str, DurationSummary]]]  # stage -> weeks with data
    turnaround_overall: dict[str, DurationSummary]
    weeks: list[str]
    cases: int

    def name(self, label: str) -> str:
        return self.class_names.get(label, label)

    @property
    def images(self) -> int:
        return sum(self.outcomes.values())


def _readable(task: str, labels: list[str]) -> dict[str, str]:
    spec = task_get(task)
    names = {label: spec.class_label(label) if spec is not None else label for label in labels}
    names[""] = NON_DIAGNOSTIC
    return names


def _stage_seconds(case: CaseMilestones) -> dict[str, float]:
    ends: dict[str, datetime | None] = {
        "predicted": case.predicted_at,
        "first_read": case.first_read_at,
        "final": case.final_at,
    }
    return {stage: (end - case.uploaded_at).total_seconds() for stage, end in ends.items() if end is not None}


def analytics_report(*, user: User, filters: AnalyticsFilters) -> AnalyticsReport:
    """The task's AI-vs-final figures, reader agreement, weekly agreement and turnaround (three queries)."""
    outcomes = image_outcomes(user=user, filters=filters)
    compared = [o for o in outcomes if o.outcome == Outcome.MATRIX]
    confusion = confusion_report([(o.ai_label, o.final_label) for o in compared], task_classes(filters.task))
    by_version: dict[str, list[tuple[str, str]]] = {}
    for o in compared:
        by_version.setdefault(o.model_version, []).append((o.ai_label, o.final_label))
    versions = []
    for version, pairs in sorted(by_version.items()):
        figures = confusion_report(pairs, confusion.classes)
        versions.append(VersionFigures(version, figures.n, figures.accuracy, figures.kappa))
    reads = double_reads(user=user, filters=filters)
    readers = reader_agreement([(r.first, r.second) for r in reads], confusion.classes)
    local = timezone.localtime
    agreement = agreement_by_week(
        (o.model_version, iso_week(local(o.labelled_at)), o.ai_label, o.final_label) for o in compared
    )
    cases = case_milestones(user=user, filters=filters)
    stage_rows = [
        (stage, iso_week(local(case.uploaded_at)), seconds)
        for case in cases
        for stage, seconds in _stage_seconds(case).items()
    ]
    overall = {stage: duration_summary([s for st, _, s in stage_rows if st == stage]) for stage in STAGES}
    counted = Counter(o.outcome for o in outcomes)
    return AnalyticsReport(
        filters=filters,
        task_name=task_label(filters.task),
        class_names=_readable(filters.task, confusion.classes),
        confusion=confusion,
        outcomes={
            name: counted.get(name, 0)
            for name in (Outcome.MATRIX, Outcome.NON_DIAGNOSTIC, Outcome.OUT_OF_SCOPE, Outcome.NO_AI)
        },
        versions=versions,
        readers=readers,
        agreement=agreement,
        turnaround={stage: by_week for stage, by_week in sorted(turnaround_by_week(stage_rows).items())},
        turnaround_overall=overall,
        weeks=weeks_between(filters.date_from, filters.date_to),
        cases=len(cases),
    )


def analytics_charts(report: AnalyticsReport) -> dict[str, str]:
    """The report's figures as inline SVG: confusion, sens_spec, agreement, turnaround (absent without data)."""
    charts: dict[str, str] = {}
    names = [report.name(c) for c in report.confusion.classes]
    task = report.task_name
    if report.confusion.n:
        charts["confusion"] = analytics_plots.confusion_svg(
            report.confusion, names, title=f"{task}: AI label against final label"
        )
        charts["sens_spec"] = analytics_plots.sensitivity_specificity_svg(
            report.confusion, names, title=f"{task}: sensitivity and specificity per class"
        )
    if report.agreement:
        charts["agreement"] = analytics_plots.agreement_svg(
            report.agreement, report.weeks, title=f"{task}: AI-vs-reader agreement per week"
        )
    if report.turnaround:
        ordered = {stage: report.turnaround[stage] for stage in STAGES if stage in report.turnaround}
        charts["turnaround"] = analytics_plots.turnaround_svg(
            ordered, STAGES, report.weeks, title=f"{task}: turnaround per week of upload"
        )
    return charts


def _number(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def analytics_csv_rows(report: AnalyticsReport) -> list[list[str]]:
    """The figures as one table: section, key, sub-key, n, value (blank: undefined)."""
    rows = [["section", "key", "subkey", "n", "value"]]
    classes = report.confusion.classes
    for i, final in enumerate(classes):
        for j, ai in enumerate(classes):
            rows.append(["confusion", f"final={final}", f"ai={ai}", str(report.confusion.matrix[i][j]), ""])
    for c in report.confusion.per_class:
        rows.append(["class", c.name, "sensitivity", str(c.true), _number(c.sensitivity)])
        rows.append(
            ["class", c.name, "specificity", str(report.confusion.n - c.true), _number(c.specificity)]
        )
    rows.append(["ai_vs_final", "accuracy", "", str(report.confusion.n), _number(report.confusion.accuracy)])
    rows.append(["ai_vs_final", "kappa", "", str(report.confusion.n), _number(report.confusion.kappa)])
    for outcome, n in report.outcomes.items():
        rows.append(["images", outcome, "", str(n), ""])
    for v in report.versions:
        rows.append(["version", v.version, "accuracy", str(v.n), _number(v.accuracy)])
        rows.append(["version", v.version, "kappa", str(v.n), _number(v.kappa)])
    rows.append(["readers", "kappa", "", str(report.readers.n), _number(report.readers.kappa)])
    rows.append(
        ["readers", "observed_agreement", "", str(report.readers.n), _number(report.readers.observed)]
    )
    for version, weeks in report.agreement.items():
        for w in weeks:
            rows.append(["agreement_week", version, w.week, str(w.n), _number(w.share)])
    for stage, weeks_summary in report.turnaround.items():
        for week, s in weeks_summary:
            rows.append(["turnaround_median_s", stage, week, str(s.n), _number(s.median, 1)])
            rows.append(["turnaround_p90_s", stage, week, str(s.n), _number(s.p90, 1)])
    return rows
