"""The web UI pages: upload, upload result, worklist, case page, task/priority changes and image files."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.models import AuditEvent, Case, CaseStatus, Image, IntakeBatch, Task
from cases.signals import case_task_changed

pytestmark = pytest.mark.django_db

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PYDICOM = "dicom/pydicom"


def _file(data_dir, relative: str, name: str | None = None) -> SimpleUploadedFile:
    path = data_dir / relative
    return SimpleUploadedFile(name or path.name, path.read_bytes(), content_type="application/dicom")


def _zip(data_dir, *relatives: str) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative in relatives:
            archive.write(data_dir / relative, arcname=f"study/{(data_dir / relative).name}")
    return SimpleUploadedFile("study.zip", buffer.getvalue(), content_type="application/zip")


# --- Upload -------------------------------------------------------------------


def test_upload_page_offers_infer_and_every_task(client, radiologist):
    client.force_login(radiologist)
    page = client.get(reverse("cases:upload")).content.decode()
    assert "Infer from DICOM header" in page
    for value, _label in Task.choices:
        assert f'value="{value}"' in page
    assert "webkitdirectory" in page and 'name="files"' in page
    assert 'name="site"' not in page  # the radiologist's site is implied


def test_upload_mixed_files_lists_accepted_and_rejected_with_reasons(client, radiologist, data_dir, site):
    client.force_login(radiologist)
    response = client.post(
        reverse("cases:upload"),
        {
            "task": "",
            "files": [
                _file(data_dir, f"{PYDICOM}/CT_small.dcm"),
                _file(data_dir, f"{PYDICOM}/MR_small.dcm"),
                _file(data_dir, f"{PYDICOM}/MR_truncated.dcm"),
                SimpleUploadedFile("notes.txt", b"this is not an image\n", content_type="text/plain"),
                _zip(data_dir, f"{PYDICOM}/JPGExtended.dcm", f"{PYDICOM}/rtplan.dcm"),
            ],
        },
    )
    batch = IntakeBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("cases:upload_result", kwargs={"batch_id": batch.pk})
    assert batch.site == site and batch.uploaded_by == radiologist and batch.source == "web"
    assert batch.accepted_count == 3  # CT, MR and the JPEG-extended file from the zip
    assert batch.rejected_count == 3  # truncated, text file, RT plan without pixels

    page = client.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    assert html.count('class="accepted-row"') == 3
    assert html.count('class="rejected-row"') == 3
    for name in (
        "CT_small.dcm",
        "MR_small.dcm",
        "JPGExtended.dcm",
        "notes.txt",
        "MR_truncated.dcm",
        "rtplan.dcm",
    ):
        assert name in html
    reasons = {item["name"]: item["reason"] for item in batch.report["rejected"]}
    for reason in reasons.values():
        assert reason and reason in html
    assert "not a DICOM" in reasons["notes.txt"]
    assert "truncated" in next(r for n, r in reasons.items() if n.endswith("MR_truncated.dcm")).lower()
    for case_id in batch.report["case_ids"]:
        assert reverse("cases:case_detail", kwargs={"pk": case_id}) in html


def test_upload_keeps_relative_paths_sent_by_the_script(client, radiologist, data_dir):
    client.force_login(radiologist)
    response = client.post(
        reverse("cases:upload"),
        {
            "files": [_file(data_dir, f"{PYDICOM}/CT_small.dcm"), _file(data_dir, f"{PYDICOM}/MR_small.dcm")],
            "paths": json.dumps(["patient1/ct/CT_small.dcm", "../../etc/MR_small.dcm"]),
        },
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 200
    names = sorted(item["name"] for item in IntakeBatch.objects.get().report["accepted"])
    assert names == ["etc/MR_small.dcm", "patient1/ct/CT_small.dcm"]


def test_upload_rejects_malformed_paths(client, radiologist, data_dir):
    client.force_login(radiologist)
    response = client.post(
        reverse("cases:upload"),
        {"files": [_file(data_dir, f"{PYDICOM}/CT_small.dcm")], "paths": json.dumps({"a": 1})},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 400
    assert "paths" in response.json()["errors"]


def test_upload_json_mode_returns_result_url(client, radiologist, data_dir):
    client.force_login(radiologist)
    response = client.post(
        reverse("cases:upload"),
        {"task": "lung_ct", "files": [_file(data_dir, f"{PYDICOM}/CT_small.dcm")]},
        HTTP_ACCEPT="application/json",
    )
    batch = IntakeBatch.objects.get()
    assert response.status_code == 200
    body = response.json()
    assert body["result_url"] == reverse("cases:upload_result", kwargs={"batch_id": batch.pk})
    assert body["accepted"] == 1 and body["rejected"] == 0
    assert Case.objects.get().task == Task.LUNG_CT


def test_upload_plain_images_links_patient_reference(client, radiologist, brain_jpeg):
    client.force_login(radiologist)
    files = [SimpleUploadedFile(brain_jpeg.name, brain_jpeg.read_bytes(), content_type="image/jpeg")]
    response = client.post(
        reverse("cases:upload"),
        {"task": "brain_mri", "patient_ref": "MRN 12345", "files": files},
        follow=True,
    )
    case = Case.objects.get()
    assert case.task == Task.BRAIN_MRI and not case.study.is_dicom
    assert case.study.patient is not None
    assert "MRN 12345" not in case.study.patient.pseudonym
    html = response.content.decode()
    assert "Plain images" in html and brain_jpeg.name in html


def test_upload_over_the_size_limit_is_413_before_reading_the_body(
    client, radiologist, data_dir, settings, mocker
):
    settings.INTAKE_MAX_REQUEST_BYTES = 2048
    parse = mocker.patch(
        "django.http.multipartparser.MultiPartParser.parse", side_effect=AssertionError("read")
    )
    client.force_login(radiologist)
    response = client.post(reverse("cases:upload"), {"files": [_file(data_dir, f"{PYDICOM}/CT_small.dcm")]})
    assert response.status_code == 413
    assert "over the 2.0\xa0KB limit" in response.content.decode()
    parse.assert_not_called()
    assert not IntakeBatch.objects.exists()

    as_json = client.post(
        reverse("cases:upload"),
        {"files": [_file(data_dir, f"{PYDICOM}/CT_small.dcm")]},
        HTTP_ACCEPT="application/json",
    )
    assert as_json.status_code == 413
    assert "limit" in as_json.json()["error"]


def test_upload_without_files_is_400_with_reason(client, radiologist):
    client.force_login(radiologist)
    response = client.post(reverse("cases:upload"), {"task": ""})
    assert response.status_code == 400
    assert "Choose at least one file" in response.content.decode()
    as_json = client.post(reverse("cases:upload"), {"task": ""}, HTTP_ACCEPT="application/json")
    assert as_json.status_code == 400
    assert "files" in as_json.json()["errors"]
    assert not IntakeBatch.objects.exists()


def test_upload_with_unknown_task_is_400(client, radiologist, data_dir):
    client.force_login(radiologist)
    response = client.post(
        reverse("cases:upload"),
        {"task": "liver_us", "files": [_file(data_dir, f"{PYDICOM}/CT_small.dcm")]},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 400
    assert "task" in response.json()["errors"]
    assert not IntakeBatch.objects.exists()


def test_curator_without_site_must_choose_one(client, curator, other_site, data_dir):
    client.force_login(curator)
    assert 'name="site"' in client.get(reverse("cases:upload")).content.decode()
    missing = client.post(reverse("cases:upload"), {"files": [_file(data_dir, f"{PYDICOM}/CT_small.dcm")]})
    assert missing.status_code == 400
    bogus = client.post(
        reverse("cases:upload"), {"site": 999999, "files": [_file(data_dir, f"{PYDICOM}/CT_small.dcm")]}
    )
    assert bogus.status_code == 400
    ok = client.post(
        reverse("cases:upload"),
        {"site": other_site.pk, "files": [_file(data_dir, f"{PYDICOM}/CT_small.dcm")]},
    )
    assert ok.status_code == 302
    assert Case.objects.get().site == other_site


def test_upload_enforces_csrf(radiologist, data_dir):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(radiologist)
    response = strict.post(reverse("cases:upload"), {"files": [_file(data_dir, f"{PYDICOM}/CT_small.dcm")]})
    assert response.status_code == 403
    assert not IntakeBatch.objects.exists()


# --- Worklist -------------------------------------------------------------------


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
    assert f"{image.rows} \u00d7 {image.cols}" in html
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
