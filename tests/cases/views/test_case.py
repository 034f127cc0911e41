"""The web UI pages: worklist, case page, task/priority changes and image files."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.models import AuditEvent, Case, CaseStatus, Image, Task
from cases.signals import case_task_changed

pytestmark = pytest.mark.django_db

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PYDICOM = "dicom/pydicom"


def _worklist_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_worklist_query_count_does_not_grow_with_cases(client, radiologist, site, make_case):
    client.force_login(radiologist)
    for _ in range(10):
        make_case(site, images=2)
    url = reverse("cases:worklist")
    client.get(url)  # warm-up: per-process caches (content types, etc.)
    with_ten = _worklist_queries(client, url)
    for _ in range(40):
        make_case(site, images=3)
    with_fifty = _worklist_queries(client, url)
    for _ in range(450):
        make_case(site, images=1)
    with_five_hundred = _worklist_queries(client, url)
    assert with_ten == with_fifty == with_five_hundred
    assert with_five_hundred <= 10
    page = client.get(url + "?page=10")  # the oldest 50: the 10 + 40 cases made first
    rows = page.context["page"].object_list
    assert len(rows) == 50
    assert all(row.image_count in (2, 3) for row in rows)
    assert all(row.key_image_id is not None for row in rows)
    first = rows[0]
    first_image = Image.objects.filter(case=first).order_by("instance_number").first()
    assert first.key_image_id == first_image.pk
    assert reverse("cases:image_thumbnail", kwargs={"pk": first_image.pk}) in page.content.decode()


def test_worklist_paginates_at_50(client, radiologist, site, make_case):
    client.force_login(radiologist)
    for _ in range(51):
        make_case(site)
    first = client.get(reverse("cases:worklist"))
    assert len(first.context["page"].object_list) == 50
    second = client.get(reverse("cases:worklist") + "?page=2")
    assert len(second.context["page"].object_list) == 1


def test_worklist_filters_by_status_task_and_flag(client, radiologist, site, make_case):
    client.force_login(radiologist)
    lung_new = make_case(site, task="lung_ct", status=CaseStatus.RECEIVED)
    brain_done = make_case(site, task="brain_mri", status=CaseStatus.REVIEWED)
    flagged = make_case(site, task="brain_mri", status=CaseStatus.RECEIVED, flagged=True)

    def ids(query: str) -> set[int]:
        return {c.pk for c in client.get(reverse("cases:worklist") + query).context["page"].object_list}

    assert ids("") == {lung_new.pk, brain_done.pk, flagged.pk}
    assert ids("?status=reviewed") == {brain_done.pk}
    assert ids("?task=brain_mri") == {brain_done.pk, flagged.pk}
    assert ids("?task=brain_mri&status=received") == {flagged.pk}
    assert ids("?flagged=on") == {flagged.pk}
    # Nonsense values are ignored, not a crash.
    assert ids("?status=bogus") == {lung_new.pk, brain_done.pk, flagged.pk}
    html = client.get(reverse("cases:worklist") + "?flagged=on").content.decode()
    assert "Burned-in annotation" in html


def test_worklist_empty_state_says_how_to_upload(client, radiologist):
    client.force_login(radiologist)
    html = client.get(reverse("cases:worklist")).content.decode()
    assert "No cases yet" in html
    assert reverse("cases:upload") in html


def test_logout_is_a_post_form(client, radiologist):
    client.force_login(radiologist)
    html = client.get(reverse("cases:worklist")).content.decode()
    assert f'method="post" action="{reverse("logout")}"' in html
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("cases:worklist")).status_code == 302


# --- Case page --------------------------------------------------------------------


def test_case_page_shows_study_and_images_and_is_audited(client, radiologist, ct_case):
    client.force_login(radiologist)
    image = ct_case.images.get()
    response = client.get(reverse("cases:case_detail", kwargs={"pk": ct_case.pk}))
    html = response.content.decode()
    assert response.status_code == 200
    assert ct_case.study.modality in html
    assert reverse("cases:image_thumbnail", kwargs={"pk": image.pk}) in html
    assert reverse("cases:image_frame", kwargs={"pk": image.pk, "frame": image.key_frame}) in html
    assert f"{image.rows} rows \u00d7 {image.cols} columns" in html  # one way everywhere (issue 23)
    assert "De-identified header" in html
    event = AuditEvent.objects.get(action="case.viewed")
    assert event.actor == radiologist
    assert event.object_id == str(ct_case.pk) and event.object_type == "cases.case"
    assert event.site == ct_case.site
    client.get(reverse("cases:case_detail", kwargs={"pk": ct_case.pk}))
    assert AuditEvent.objects.filter(action="case.viewed").count() == 2


def test_case_page_header_table_shows_no_patient_name(client, radiologist, ct_case):
    client.force_login(radiologist)
    image = ct_case.images.get()
    html = client.get(
        reverse("cases:case_detail", kwargs={"pk": ct_case.pk}) + f"?header={image.pk}"
    ).content.decode()
    assert "<details" in html and " open>" in html
    assert "CompressedSamples" not in html  # CT_small's PatientName


def test_case_page_shows_flag_and_failure(client, radiologist, site, make_case):
    client.force_login(radiologist)
    case = make_case(site, flagged=True, status=CaseStatus.FAILED)
    Case.objects.filter(pk=case.pk).update(failure_reason="model weights missing")
    html = client.get(reverse("cases:case_detail", kwargs={"pk": case.pk})).content.decode()
    assert 'id="flag-reason"' in html and "Burned-in annotation" in html
    assert 'id="failure-reason"' in html and "model weights missing" in html


def test_case_page_lifecycle_marks_current_step(client, radiologist, site, make_case):
    client.force_login(radiologist)
    case = make_case(site, status=CaseStatus.PREDICTED)
    html = client.get(reverse("cases:case_detail", kwargs={"pk": case.pk})).content.decode()
    assert html.count("step step-done") == 3
    assert 'class="step step-current" aria-current="step"' in html


def test_task_change_is_saved_audited_and_signalled(
    client, radiologist, ct_case, django_capture_on_commit_callbacks
):
    client.force_login(radiologist)
    received: list[dict] = []

    def listener(sender, **kwargs):
        received.append(kwargs)

    case_task_changed.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                reverse("cases:case_task", kwargs={"pk": ct_case.pk}), {"task": "brain_mri"}
            )
    finally:
        case_task_changed.disconnect(listener)
    assert response.status_code == 302
    assert response["Location"] == reverse("cases:case_detail", kwargs={"pk": ct_case.pk})
    previous = ct_case.task
    ct_case.refresh_from_db()
    assert ct_case.task == Task.BRAIN_MRI and not ct_case.task_inferred
    event = AuditEvent.objects.get(action="case.task_changed")
    assert event.actor == radiologist and event.detail == {"from": previous, "to": "brain_mri"}
    assert [(r["case_id"], r["task"]) for r in received] == [(ct_case.pk, "brain_mri")]


def test_task_change_to_the_same_task_records_nothing(client, radiologist, ct_case):
    client.force_login(radiologist)
    client.post(reverse("cases:case_task", kwargs={"pk": ct_case.pk}), {"task": ct_case.task})
    assert not AuditEvent.objects.filter(action="case.task_changed").exists()


def test_task_change_rejects_unknown_task(client, radiologist, ct_case):
    client.force_login(radiologist)
    response = client.post(reverse("cases:case_task", kwargs={"pk": ct_case.pk}), {"task": "liver_us"})
    assert response.status_code == 400
    assert 'id="task-form"' in response.content.decode()
    assert not AuditEvent.objects.filter(action="case.task_changed").exists()


def test_priority_change_is_saved_and_audited(client, radiologist, ct_case):
    client.force_login(radiologist)
    response = client.post(reverse("cases:case_priority", kwargs={"pk": ct_case.pk}), {"priority": "2"})
    assert response.status_code == 302
    ct_case.refresh_from_db()
    assert ct_case.priority == 2
    assert AuditEvent.objects.get(action="case.priority_changed").detail == {"from": 0, "to": 2}
    assert (
        client.post(reverse("cases:case_priority", kwargs={"pk": ct_case.pk}), {"priority": "9"}).status_code
        == 400
    )


def test_task_change_requires_post(client, radiologist, ct_case):
    client.force_login(radiologist)
    assert client.get(reverse("cases:case_task", kwargs={"pk": ct_case.pk})).status_code == 405


# --- Image files ----------------------------------------------------------------------


def test_thumbnail_and_frame_are_private_pngs(client, radiologist, ct_case, jpeg_case):
    client.force_login(radiologist)
    for case in (ct_case, jpeg_case):
        image = case.images.get()
        for url in (
            reverse("cases:image_thumbnail", kwargs={"pk": image.pk}),
            reverse("cases:image_frame", kwargs={"pk": image.pk, "frame": 0}),
        ):
            response = client.get(url)
            assert response.status_code == 200, url
            assert response["Content-Type"] == "image/png"
            assert response["Cache-Control"] == "private, max-age=3600"
            assert b"".join(response.streaming_content).startswith(PNG_MAGIC)


def test_frame_out_of_range_is_404(client, radiologist, ct_case):
    client.force_login(radiologist)
    image = ct_case.images.get()
    assert (
        client.get(reverse("cases:image_frame", kwargs={"pk": image.pk, "frame": image.frames})).status_code
        == 404
    )


def test_missing_rendering_is_404_not_500(client, radiologist, site, make_case):
    client.force_login(radiologist)
    image = make_case(site).images.get()  # ORM rows only: no files behind them
    assert client.get(reverse("cases:image_thumbnail", kwargs={"pk": image.pk})).status_code == 404


def test_multiframe_frames_are_served(client, radiologist, ingest, data_dir):
    report = ingest(data_dir / f"{PYDICOM}/SC_rgb_rle_2frame.dcm")
    image = Image.objects.get(pk=report.accepted[0].image_id)
    assert image.frames == 2
    client.force_login(radiologist)
    for frame in (0, 1):
        response = client.get(reverse("cases:image_frame", kwargs={"pk": image.pk, "frame": frame}))
        assert response.status_code == 200
        assert b"".join(response.streaming_content).startswith(PNG_MAGIC)
    assert client.get(reverse("cases:image_frame", kwargs={"pk": image.pk, "frame": 2})).status_code == 404


def test_worklist_puts_higher_priority_first(client, radiologist, site, make_case):
    client.force_login(radiologist)
    routine = make_case(site, priority=0)
    stat = make_case(site, priority=2)
    urgent = make_case(site, priority=1)
    newer_routine = make_case(site, priority=0)
    rows = client.get(reverse("cases:worklist")).context["page"].object_list
    assert [c.pk for c in rows] == [stat.pk, urgent.pk, newer_routine.pk, routine.pk]


def test_page_actions_are_audited_as_web_with_address_and_agent(client, radiologist, ct_case):
    client.force_login(radiologist)
    agent = {"HTTP_USER_AGENT": "Mozilla/5.0 (reading room)"}
    assert client.get(reverse("cases:case_detail", kwargs={"pk": ct_case.pk}), **agent).status_code == 200
    changed = client.post(
        reverse("cases:case_task", kwargs={"pk": ct_case.pk}), {"task": "brain_mri"}, **agent
    )
    assert changed.status_code == 302
    client.post(reverse("cases:case_priority", kwargs={"pk": ct_case.pk}), {"priority": 2}, **agent)
    events = AuditEvent.objects.filter(
        action__in=["case.viewed", "case.task_changed", "case.priority_changed"], object_id=str(ct_case.pk)
    )
    assert {e.action for e in events} == {"case.viewed", "case.task_changed", "case.priority_changed"}
    for event in events:
        assert (event.source, event.actor, event.ip_address) == ("web", radiologist, "127.0.0.1")
        assert event.user_agent == "Mozilla/5.0 (reading room)"
