"""The label-next queue's selector: which cases, which results, in which order, in how many queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.models import Review, Site
from lifecycle.selectors_next import QueueFilters, label_next_candidates, label_next_queue
from oncocore.active_learning import Strategy

from .conftest import brain

pytestmark = pytest.mark.django_db

UNCERTAIN = Strategy.UNCERTAINTY


def first_image(case):
    return case.images.order_by("pk").first()


def ids(queue):
    return [c.case_id for c in queue.cases]


def test_queue_ranks_by_the_newest_done_prediction_of_the_case_task(
    curator, site, make_case, make_version, predict
):
    version, newer = make_version(), make_version()
    sure = make_case(site, task="brain_mri", status="predicted")
    unsure = make_case(site, task="brain_mri", status="in_review")
    predict(first_image(sure), version, brain(0.9, 0.04))
    # The older result was a near tie; the newest is sure: the newest counts.
    predict(first_image(unsure), version, brain(0.3, 0.3))
    predict(first_image(unsure), newer, brain(0.97, 0.01))
    # A queued (not done) and a stale task's result count for nothing.
    predict(first_image(sure), make_version(), brain(0.25, 0.25), status="queued")
    predict(first_image(sure), make_version("lung_ct", classes=["a", "b"]), {"a": 0.5, "b": 0.5})

    queue = label_next_queue(user=curator, filters=QueueFilters(strategy=UNCERTAIN))

    assert ids(queue) == [sure.pk, unsure.pk]
    assert queue.cases[1].top.label == "glioma"
    assert queue.cases[1].top.margin == pytest.approx(0.96)


def test_queue_leaves_out_read_unpredicted_and_base_data_cases(
    curator, site, make_case, make_version, predict
):
    version = make_version()
    waiting = make_case(site, task="brain_mri", status="predicted")
    reviewed = make_case(site, task="brain_mri", status="reviewed")
    adjudication = make_case(site, task="brain_mri", status="adjudication")
    unpredicted = make_case(site, task="brain_mri", status="predicted")
    base = make_case(
        Site.objects.create(code="base-data", name="Base data"), task="brain_mri", status="predicted"
    )
    for case in (waiting, reviewed, adjudication, base):
        predict(first_image(case), version, brain(0.5, 0.3))
    predict(first_image(unpredicted), version, brain(0.5, 0.3), status="failed")

    assert ids(label_next_queue(user=curator, filters=QueueFilters())) == [waiting.pk]


def test_foreign_site_cases_stay_out_of_a_readers_queue(
    reviewer, curator, site, other_site, make_case, make_version, predict
):
    version = make_version()
    mine = make_case(site, task="brain_mri", status="predicted")
    foreign = make_case(other_site, task="brain_mri", status="predicted")
    predict(first_image(mine), version, brain(0.9, 0.04))
    predict(first_image(foreign), version, brain(0.4, 0.4))

    assert ids(label_next_queue(user=reviewer, filters=QueueFilters(), reader=True)) == [mine.pk]
    # A Curator sees every site.
    assert ids(label_next_queue(user=curator, filters=QueueFilters())) == [foreign.pk, mine.pk]


def test_a_readers_queue_leaves_out_what_they_read_and_filters_by_task(
    reviewer, site, make_case, make_version, predict
):
    version, lung = make_version(), make_version("lung_ct", classes=["benign", "malignant"])
    read, unread = (make_case(site, task="brain_mri", status="in_review") for _ in range(2))
    lung_case = make_case(site, task="lung_ct", status="predicted")
    for case in (read, unread):
        predict(first_image(case), version, brain(0.5, 0.3))
    predict(first_image(lung_case), lung, {"benign": 0.5, "malignant": 0.5})
    Review.objects.create(
        case=read,
        image=first_image(read),
        reviewer=reviewer,
        decision="label",
        label="glioma",
        task="brain_mri",
    )

    assert ids(label_next_queue(user=reviewer, filters=QueueFilters(), reader=True)) == [
        lung_case.pk,
        unread.pk,
    ]
    brain_only = label_next_queue(user=reviewer, filters=QueueFilters(task="brain_mri"), reader=True)
    assert ids(brain_only) == [unread.pk]
    assert label_next_candidates(user=reviewer, reader=False).filter(pk=read.pk).exists()


def test_members_and_shadow_results_feed_disagreement(
    curator, site, make_case, make_version, predict, shadow
):
    lead, second, challenger = make_version(), make_version(), make_version(status="registered")
    quiet, split, contested = (make_case(site, task="brain_mri", status="predicted") for _ in range(3))
    predict(first_image(quiet), lead, brain(0.6, 0.2))
    members = [
        {"version_id": lead.pk, "version": str(lead), "weight": 1.0, "probabilities": brain(0.9, 0.04)},
        {"version_id": second.pk, "version": str(second), "weight": 1.0, "probabilities": brain(0.1, 0.84)},
    ]
    predict(first_image(split), lead, brain(0.5, 0.44), members=members, disagreement=0.5)
    predict(first_image(contested), lead, brain(0.9, 0.04))
    shadow(first_image(contested), challenger, brain(0.04, 0.9))
    # A shadow result of a champion member is no second opinion.
    shadow(first_image(quiet), lead, brain(0.0, 1.0))

    queue = label_next_queue(user=curator, filters=QueueFilters(strategy=Strategy.DISAGREEMENT))
    # The challenger (0.04 glioma, 0.9 no tumour) is further from the champion than the second member
    # (0.1, 0.84) from the first; the quiet case has one model and no other opinion.
    assert ids(queue) == [contested.pk, split.pk, quiet.pk]
    assert queue.cases[2].score == 0.0
    by_case = {c.case_id: c.top for c in queue.cases}
    assert by_case[split.pk].members is not None and by_case[split.pk].members > 0.3
    assert (
        by_case[contested.pk].challenger is not None and by_case[contested.pk].challenger_label == "notumor"
    )
    # The reader's queue never counts shadow results.
    reader_view = label_next_queue(
        user=curator, filters=QueueFilters(strategy=Strategy.DISAGREEMENT), reader=True
    )
    assert {c.case_id: c.top for c in reader_view.cases}[contested.pk].challenger is None


def test_out_of_scope_cases_are_listed_apart(curator, site, make_case, make_version, predict):
    version = make_version()
    outside = make_case(site, task="brain_mri", status="predicted")
    mixed = make_case(site, task="brain_mri", status="predicted", images=2)
    predict(first_image(outside), version, brain(0.3, 0.3), in_scope=False, label="", confidence=None)
    a, b = mixed.images.order_by("pk")
    predict(a, version, brain(0.3, 0.3), in_scope=False, label="", confidence=None)
    predict(b, version, brain(0.9, 0.04), in_scope=True)

    queue = label_next_queue(user=curator, filters=QueueFilters())
    assert ids(queue) == [mixed.pk] and queue.cases[0].top.image_id == b.pk
    assert queue.out_of_scope == [outside.pk]


def test_queue_costs_the_same_queries_for_3_or_30_cases(
    curator, site, make_case, make_version, predict, shadow
):
    version, challenger = make_version(), make_version(status="registered")

    def add(n):
        for i in range(n):
            case = make_case(site, task="brain_mri", status="predicted", images=2)
            for image in case.images.all():
                predict(image, version, brain(0.2 + 0.02 * i, 0.3))
                shadow(image, challenger, brain(0.3, 0.2))

    label_next_queue(user=curator, filters=QueueFilters())  # the user's permissions, loaded once
    counts = []
    for n in (3, 27):
        add(n)
        with CaptureQueriesContext(connection) as ctx:
            queue = label_next_queue(user=curator, filters=QueueFilters())
        counts.append(len(ctx.captured_queries))
        assert len(queue.cases) == (3 if n == 3 else 30)
    # Predictions, then shadow results: two queries however long the queue.
    assert counts[0] == counts[1] == 2
