"""Worklist order, filters and live statuses; blinded second reading and the adjudication pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from cases.models import Case, CaseStatus, ReviewPolicy, Task
from cases.services.review import review_submit

pytestmark = pytest.mark.django_db


def _ai(case, label, confidence, uncertainty, positive):
    Case.objects.filter(pk=case.pk).update(
        ai_label=label, ai_confidence=confidence, ai_uncertainty=uncertainty, ai_positive=positive
    )
    return case


def _rows(response):
    return [case.pk for case in response.context["page"].object_list]


def test_default_order_puts_findings_first_then_uncertain(client, radiologist, site, make_case):
    plain = _ai(make_case(site), "normal", 0.9, 0.1, False)
    doubtful = _ai(make_case(site), "benign", 0.4, 0.9, False)
    malignant = _ai(make_case(site), "malignant", 0.8, 0.3, True)
    unpredicted = make_case(site)
    stat = make_case(site, priority=2)
    client.force_login(radiologist)
    response = client.get(reverse("cases:worklist"))
    assert _rows(response) == [stat.pk, malignant.pk, doubtful.pk, plain.pk, unpredicted.pk]
    assert b"then AI findings" in response.content

    # The active-learning toggle ranks by uncertainty alone, priority included.
    response = client.get(reverse("cases:worklist"), {"order": "uncertainty"})
    assert _rows(response)[:3] == [doubtful.pk, malignant.pk, plain.pk]


def test_worklist_filters_ai_label_assignee_dates_and_site(
    client, radiologist, curator, site, other_site, make_case
):
    malignant = _ai(make_case(site), "malignant", 0.8, 0.3, True)
    normal = _ai(make_case(site), "normal", 0.8, 0.3, False)
    mine = make_case(site)
    Case.objects.filter(pk=mine.pk).update(assignee=radiologist)
    old = make_case(site)
    Case.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=30))
    elsewhere = make_case(other_site)
    client.force_login(radiologist)
    url = reverse("cases:worklist")
    assert _rows(client.get(url, {"ai_label": "normal"})) == [normal.pk]
    assert _rows(client.get(url, {"ai_label": "__positive__"})) == [malignant.pk]
    assert _rows(client.get(url, {"mine": "on"})) == [mine.pk]
    week_ago = (timezone.now() - timedelta(days=7)).date().isoformat()
    assert old.pk not in _rows(client.get(url, {"received_from": week_ago}))
    assert _rows(client.get(url, {"received_to": week_ago})) == [old.pk]
    # A radiologist has no site filter (they only see their site); a bogus value is reported, not a 500.
    response = client.get(url, {"site": str(other_site.pk), "ai_label": "bogus"})
    assert response.status_code == 200 and "site" not in response.context["filter_form"].fields
    assert elsewhere.pk not in _rows(response) and b"were not understood" in response.content

    client.force_login(curator)
    assert _rows(client.get(url, {"site": str(other_site.pk)})) == [elsewhere.pk]


def test_status_feed_returns_only_visible_cases(client, radiologist, site, other_site, make_case):
    queued = make_case(site, status="queued")
    done = _ai(make_case(site, status="predicted"), "malignant", 0.75, 0.4, True)
    foreign = make_case(other_site, status="queued")
    client.force_login(radiologist)
    response = client.get(reverse("cases:case_statuses"), {"ids": f"{queued.pk},{done.pk},{foreign.pk}"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    rows = {row["id"]: row for row in response.json()["cases"]}
    assert set(rows) == {queued.pk, done.pk}  # another site's case is not revealed
    assert rows[queued.pk]["in_flight"] is True and rows[done.pk]["in_flight"] is False
    assert rows[done.pk]["ai_label"] == "malignant" and rows[done.pk]["ai_positive"] is True


def test_status_feed_rejects_bad_ids(client, radiologist):
    client.force_login(radiologist)
    url = reverse("cases:case_statuses")
    response = client.get(url, {"ids": "1,x"})
    assert response.status_code == 400 and "comma-separated" in response.json()["detail"]
    response = client.get(url, {"ids": ",".join(str(i) for i in range(201))})
    assert response.status_code == 400 and "at most 200" in response.json()["detail"]


def test_worklist_rows_carry_live_update_hooks(client, radiologist, site, make_case):
    make_case(site, status="predicting")
    make_case(site, status="reviewed")
    client.force_login(radiologist)
    html = client.get(reverse("cases:worklist")).content.decode()
    assert html.count("data-in-flight") == 1
    assert "js/worklist.js" in html and 'data-status-url="/cases/status.json"' in html


# --- Second reader and adjudication through the pages -----------------------------------
@pytest.fixture
def double_read(db):
    return ReviewPolicy.objects.create(task=Task.BRAIN_MRI, readers_required=2)


@pytest.fixture
def second_reviewer(make_user, site):
    return make_user("rev2", "Reviewer", site)


def test_second_reader_does_not_see_the_first_label(
    client, brain_case, reviewer, second_reviewer, double_read
):
    case = brain_case.first()
    image = case.images.get()
    review_submit(case=case, image=image, reviewer=reviewer, label="pituitary", note="sellar mass")
    client.force_login(second_reviewer)
    html = client.get(reverse("cases:case_detail", args=[case.pk])).content.decode()
    assert "1 reading done" in html and "stays hidden" in html
    assert "sellar mass" not in html and "rev: " not in html
    assert f'action="/cases/{case.pk}/images/{image.pk}/review/"' in html

    client.force_login(reviewer)  # the first reader sees their own reading
    html = client.get(reverse("cases:case_detail", args=[case.pk])).content.decode()
    assert "Your review:" in html and "sellar mass" in html


def test_adjudication_queue_and_decision(
    client, brain_case, reviewer, second_reviewer, curator, radiologist, other_radiologist, double_read
):
    case = brain_case.first()
    image = case.images.get()
    review_submit(case=case, image=image, reviewer=reviewer, label="pituitary")
    review_submit(case=case, image=image, reviewer=second_reviewer, label="glioma")
    queue = reverse("cases:adjudication_queue")
    decide = reverse("cases:adjudication_submit", args=[case.pk, image.pk])

    client.force_login(reviewer)
    assert client.get(queue).status_code == 403
    assert client.post(decide, {"label": "glioma"}).status_code == 403
    html = client.get(reverse("cases:case_detail", args=[case.pk])).content.decode()
    assert "waits for a Curator" in html and "adjudication-form" not in html
    client.force_login(other_radiologist)
    assert client.post(decide, {"label": "glioma"}).status_code == 404  # another site's case

    client.force_login(curator)
    response = client.get(queue)
    assert response.status_code == 200 and _rows(response) == [case.pk]
    assert b"rev2: <strong>Glioma</strong>" in response.content  # readable class names (issue 23)
    html = client.get(reverse("cases:case_detail", args=[case.pk])).content.decode()
    assert "adjudication-form" in html and "Awaiting adjudication" in html

    response = client.post(decide, {"label": "pituitary", "note": "enhancing sellar lesion"})
    assert response.status_code == 302 and response["Location"] == queue  # nothing else is waiting
    case.refresh_from_db()
    assert case.status == CaseStatus.REVIEWED
    html = client.get(reverse("cases:case_detail", args=[case.pk])).content.decode()
    assert "Final label (adjudicated):</strong> Pituitary"  # readable class names (issue 23) in html

    response = client.post(decide, {"label": "glioma"}, follow=True)  # final is final
    assert b"not awaiting adjudication" in response.content
