"""Analytics from a fixed set of readings made with the real review services, against hand-computed figures."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from cases.models import Case, ReviewPolicy
from lifecycle.analytics_report import analytics_report
from lifecycle.selectors_analytics import AnalyticsFilters, Outcome, double_reads, image_outcomes

pytestmark = pytest.mark.django_db

G, M, N, P = "glioma", "meningioma", "notumor", "pituitary"
# (AI label, final label) of ten single readings with v1 shown: the matrix of tests/oncocore/test_analytics.py
# with a=glioma, b=meningioma, c=notumor.
V1_READINGS = [(G, G)] * 3 + [(M, G)] + [(M, M)] * 2 + [(G, M), (N, M)] + [(N, N)] * 2


def _today() -> AnalyticsFilters:
    today = timezone.localdate()
    return AnalyticsFilters(task="brain_mri", date_from=today - timedelta(days=1), date_to=today)


@pytest.fixture
def readings(ai_case, read, adjudicate, reviewer, second_reviewer, v1, v2):
    """Ten single readings (v1), three that are not compared, then six double reads (v2), one blind."""
    for ai, final in V1_READINGS:
        read(ai_case(ai, v1), reviewer, final)
    read(ai_case(G, v1), reviewer, "")  # final label non-diagnostic
    read(ai_case("", v1), reviewer, G)  # AI result out of scope: no class shown
    read(ai_case(None), reviewer, M)  # no AI result when read
    ReviewPolicy.objects.create(task="brain_mri", readers_required=2)
    double = [(G, G), (G, M), (M, M), ("", ""), (M, G)]
    cases = []
    for first, second in double:
        case = ai_case(G, v2)
        read(case, reviewer, first)
        read(case, second_reviewer, second)
        cases.append(case)
    adjudicate(cases[1], M)  # the second disagreement stays waiting for its adjudication
    ReviewPolicy.objects.filter(task="brain_mri").update(blind_first_reading=True)
    blind = ai_case(G, v2)
    for reader, hidden, shown in ((reviewer, P, G), (second_reviewer, N, G)):
        assert read(blind, reader, hidden).awaits_reveal  # before the AI result is shown: not counted
        read(blind, reader, shown)
    assert Case.objects.filter(status="adjudication").count() == 1
    return cases


def test_confusion_matrix_of_one_model_version_by_hand(readings, curator, v1):
    report = analytics_report(user=curator, filters=_with(version=str(v1)))
    c = report.confusion
    assert c.classes == [G, M, N, P]
    assert c.matrix == [[3, 1, 0, 0], [1, 2, 1, 0], [0, 0, 2, 0], [0, 0, 0, 0]]
    assert (c.n, c.accuracy) == (10, pytest.approx(0.7))
    sens = {x.name: x.sensitivity for x in c.per_class}
    spec = {x.name: x.specificity for x in c.per_class}
    assert [sens[G], sens[M], sens[N], sens[P]] == pytest.approx([0.75, 0.5, 1.0, None])
    assert [spec[G], spec[M], spec[N], spec[P]] == pytest.approx([5 / 6, 5 / 6, 7 / 8, 1.0])
    assert c.kappa == pytest.approx(0.36 / 0.66)
    # The non-diagnostic and out-of-scope ones are counted apart; the unread-by-AI one has no version.
    assert report.outcomes == {
        Outcome.MATRIX: 10,
        Outcome.NON_DIAGNOSTIC: 1,
        Outcome.OUT_OF_SCOPE: 1,
        Outcome.NO_AI: 0,
    }


def test_every_version_together_and_per_version(readings, curator, v1, v2):
    report = analytics_report(user=curator, filters=_today())
    # v2 adds: final glioma/AI glioma twice (double read, blind double read), final meningioma/AI glioma
    # twice (agreed, adjudicated); its non-diagnostic pair and the pending adjudication are not compared.
    assert report.confusion.matrix == [[5, 1, 0, 0], [3, 2, 1, 0], [0, 0, 2, 0], [0, 0, 0, 0]]
    assert report.outcomes == {
        Outcome.MATRIX: 14,
        Outcome.NON_DIAGNOSTIC: 2,
        Outcome.OUT_OF_SCOPE: 1,
        Outcome.NO_AI: 1,
    }
    versions = {v.version: (v.n, v.accuracy) for v in report.versions}
    assert versions == {str(v1): (10, pytest.approx(0.7)), str(v2): (4, pytest.approx(0.5))}


def test_reader_kappa_counts_double_reads_only_after_the_reveal(readings, curator):
    reads = double_reads(user=curator, filters=_today())
    pairs = sorted((r.first, r.second) for r in reads)
    assert pairs == sorted([(G, G), (G, M), (M, M), ("", ""), (M, G), (G, G)])  # the blind readings left out
    report = analytics_report(user=curator, filters=_today())
    # first: g3 m2 ''1, second: g3 m2 ''1; po = 4/6, pe = 14/36, kappa = (24 - 14) / (36 - 14).
    assert (report.readers.n, report.readers.agreed) == (6, 4)
    assert report.readers.kappa == pytest.approx(10 / 22)


def test_the_ai_label_is_the_one_the_deciding_reader_saw(readings, curator, v2):
    blind_case = Case.objects.order_by("-pk").first()
    outcome = next(o for o in image_outcomes(user=curator, filters=_today()) if o.case_id == blind_case.pk)
    assert (outcome.ai_label, outcome.final_label, outcome.model_version) == (G, G, str(v2))
    assert outcome.outcome == Outcome.MATRIX


def test_site_scope_and_date_range(readings, curator, other_site, make_user):
    # Outside the range: nothing.
    long_ago = AnalyticsFilters(
        task="brain_mri",
        date_from=timezone.localdate() - timedelta(days=60),
        date_to=timezone.localdate() - timedelta(days=30),
    )
    assert analytics_report(user=curator, filters=long_ago).images == 0
    # The rows are scoped by site like every case list: another site's user sees none of these
    # (the page itself also needs curate_dataset).
    outsider = make_user("rad-other", "Radiologist", other_site)
    assert image_outcomes(user=outsider, filters=_today()) == []


def _with(*, version: str) -> AnalyticsFilters:
    base = _today()
    return AnalyticsFilters(
        task=base.task, model_version=version, date_from=base.date_from, date_to=base.date_to
    )
