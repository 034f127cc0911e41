"""Agreement per ISO week and turnaround per week of upload, from readings with set times, against hand-computed figures."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from django.utils import timezone

from cases.models import Case, Review
from curation.models import Example
from inference.models import Prediction
from lifecycle.analytics_report import analytics_report
from lifecycle.selectors_analytics import AnalyticsFilters

pytestmark = pytest.mark.django_db

G, M, N, P = "glioma", "meningioma", "notumor", "pituitary"
HOUR = 3600.0
# March 2025: the 3rd is the Monday of ISO week 10, the 10th of week 11.
MARCH = AnalyticsFilters(task="brain_mri", date_from=date(2025, 3, 1), date_to=date(2025, 3, 16))
# (AI label, final label or None: not read yet, upload day, hours to the AI result, hours to the reading)
CASES = [
    (G, G, 3, 0.5, 2),
    (G, M, 4, 1.0, 4),
    (M, M, 5, 1.5, 6),
    (N, N, 10, 0.25, 1),
    (N, P, 11, 0.25, 3),
    (G, None, 12, 2.0, None),
    (G, G, 20, 1.0, 1),  # uploaded and read after the range: left out
]


def _moment(day: int, hours: float) -> datetime:
    start = timezone.make_aware(datetime(2025, 3, day, 9, 0))
    return start + timedelta(hours=hours)


@pytest.fixture
def timeline(ai_case, read, reviewer, v1):
    for ai, final, day, to_result, to_reading in CASES:
        case = ai_case(ai, v1)
        if final is not None:
            read(case, reviewer, final)
        # The services stamp "now"; move each milestone to its place on the calendar.
        Case.objects.filter(pk=case.pk).update(created_at=_moment(day, 0))
        Prediction.objects.filter(image__case=case).update(finished_at=_moment(day, to_result))
        if to_reading is not None:
            Review.objects.filter(case=case).update(submitted_at=_moment(day, to_reading))
            Example.objects.filter(case=case).update(labelled_at=_moment(day, to_reading))


def test_agreement_per_iso_week_by_hand(timeline, curator, v1):
    report = analytics_report(user=curator, filters=MARCH)
    weeks = [(w.week, w.n, w.agreed) for w in report.agreement[str(v1)]]
    assert weeks == [("2025-W10", 3, 2), ("2025-W11", 2, 1)]
    assert report.weeks == ["2025-W09", "2025-W10", "2025-W11"]  # the 1st is a Saturday of week 9


def test_turnaround_median_and_p90_per_week_by_hand(timeline, curator):
    report = analytics_report(user=curator, filters=MARCH)
    assert report.cases == 6

    def hours(stage):
        return [(week, s.n, s.median / HOUR, s.p90 / HOUR) for week, s in report.turnaround[stage]]

    # Week 10: AI after 0.5, 1, 1.5 h -> median 1, p90 at position 1.8: 1 + 0.8 * 0.5 = 1.4.
    # Week 11: 0.25, 0.25, 2 (the unread case too) -> median 0.25, p90 0.25 + 0.8 * 1.75 = 1.65.
    assert hours("predicted") == [
        ("2025-W10", 3, pytest.approx(1.0), pytest.approx(1.4)),
        ("2025-W11", 3, pytest.approx(0.25), pytest.approx(1.65)),
    ]
    # Readings after 2, 4, 6 h (median 4, p90 4 + 0.8 * 2 = 5.6) and 1, 3 h (median 2, p90 1 + 0.9 * 2 = 2.8).
    expected = [
        ("2025-W10", 3, pytest.approx(4.0), pytest.approx(5.6)),
        ("2025-W11", 2, pytest.approx(2.0), pytest.approx(2.8)),
    ]
    assert hours("first_read") == expected
    assert hours("final") == expected  # one reader: the reading is the final label
    overall = report.turnaround_overall["first_read"]
    # 1, 2, 3, 4, 6 h: median 3, p90 at position 3.6: 4 + 0.6 * 2 = 5.2.
    assert (overall.n, overall.median / HOUR, overall.p90 / HOUR) == (5, 3.0, pytest.approx(5.2))
