"""The try-out pages: form, result, JSON, files, save as case, discard; only the owner sees a try-out."""

from __future__ import annotations

import hashlib

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from cases.models import Case, Image, IntakeBatch, Task
from inference.models import TryOut
from inference.tryout import services as tryout_services
from tests.inference.conftest import files_under

pytestmark = pytest.mark.django_db


# --- Views ----------------------------------------------------------------------
def test_page_offers_only_tasks_with_an_active_model(client, radiologist, random_model):
    client.force_login(radiologist)
    html = client.get(reverse("inference:tryout")).content.decode()
    assert 'value="brain_mri"' in html and 'value="lung_ct"' not in html
    assert 'href="/tryout/"' in html and "Try out" in html  # the nav link


def test_post_redirects_to_the_result_page(client, radiologist, random_model, glioma, mocker):
    mocker.patch("inference.tryout.services.run_tryout.delay")
    client.force_login(radiologist)
    response = client.post(
        reverse("inference:tryout"),
        {"task": "brain_mri", "file": SimpleUploadedFile(glioma.name, glioma.read_bytes())},
    )
    created = TryOut.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/tryout/{created.pk}/"
    assert created.user == radiologist and created.original_name == "file-001.jpg"


def test_bad_upload_is_a_400_with_the_reason_and_nothing_stored(
    client, radiologist, random_model, media_dir, mocker
):
    delay = mocker.patch("inference.tryout.services.run_tryout.delay")
    client.force_login(radiologist)
    url = reverse("inference:tryout")
    response = client.post(
        url, {"task": "brain_mri", "file": SimpleUploadedFile("x.png", b"\x89PNG\r\n\x1a\nbroken")}
    )
    assert response.status_code == 400
    assert "Nothing was stored:" in response.content.decode()
    response = client.post(
        url,
        {"task": "brain_mri", "file": SimpleUploadedFile("x.txt", b"hello")},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 400
    assert (
        response.json()["error"]
        == "Nothing was stored: not a DICOM file or a supported image (JPEG, PNG, TIFF)"
    )
    response = client.post(url, {"task": "lung_ct", "file": SimpleUploadedFile("x.txt", b"hello")})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    response = client.post(url, {"task": "brain_mri"})
    assert response.status_code == 400 and "This field is required" in response.content.decode()
    assert not TryOut.objects.exists() and files_under(media_dir) == []
    delay.assert_not_called()


def test_too_large_is_a_413_before_the_body_is_read(
    client, radiologist, random_model, glioma, settings, media_dir
):
    settings.INTAKE_MAX_REQUEST_BYTES = 1024
    client.force_login(radiologist)
    response = client.post(
        reverse("inference:tryout"),
        {"task": "brain_mri", "file": SimpleUploadedFile(glioma.name, glioma.read_bytes())},
    )
    assert response.status_code == 413 and "Nothing was stored" in response.content.decode()
    assert not TryOut.objects.exists() and files_under(media_dir) == []


def test_result_page_json_and_files(client, radiologist, finished):
    client.force_login(radiologist)
    html = client.get(reverse("inference:tryout_detail", args=[finished.pk])).content.decode()
    assert f'<strong id="tryout-label">{finished.label}</strong>' in html
    for name in finished.probabilities:
        assert name in html
    assert f"/tryout/{finished.pk}/overlay.png" in html and f"/tryout/{finished.pk}/image.png" in html
    assert "Untrained model." in html and "Save as case" in html and "Discard" in html
    data = client.get(f"/tryout/{finished.pk}.json").json()
    assert data["status"] == "done" and data["finished"] and data["label"] == finished.label
    assert data["probabilities"] == finished.probabilities and data["models"] == [str(finished.model_version)]
    assert data["overlay_url"] == f"/tryout/{finished.pk}/overlay.png"
    for kind in ("overlay", "image"):
        response = client.get(f"/tryout/{finished.pk}/{kind}.png")
        assert response.status_code == 200 and response["Content-Type"] == "image/png"
        assert b"".join(response.streaming_content)[:4] == b"\x89PNG"


def test_a_queued_try_out_polls_and_has_no_overlay_yet(client, radiologist, start, random_model, glioma):
    created = start(radiologist, glioma)
    client.force_login(radiologist)
    html = client.get(reverse("inference:tryout_detail", args=[created.pk])).content.decode()
    assert 'data-status="queued"' in html and "js/tryout.js" in html and 'http-equiv="refresh"' in html
    assert client.get(f"/tryout/{created.pk}.json").json()["overlay_url"] is None
    assert client.get(f"/tryout/{created.pk}/overlay.png").status_code == 404


def test_only_the_owner_sees_a_try_out(
    client, finished, other_radiologist, curator, make_user, site, reviewer
):
    colleague = make_user("rad-same-site", "Radiologist", site)
    urls = [
        ("get", reverse("inference:tryout_detail", args=[finished.pk])),
        ("get", f"/tryout/{finished.pk}.json"),
        ("get", f"/tryout/{finished.pk}/overlay.png"),
        ("get", f"/tryout/{finished.pk}/image.png"),
        ("post", reverse("inference:tryout_save", args=[finished.pk])),
        ("post", reverse("inference:tryout_discard", args=[finished.pk])),
    ]
    for user in (colleague, other_radiologist, curator, reviewer):
        client.force_login(user)
        for method, url in urls:
            assert getattr(client, method)(url).status_code == 404, (user, url)
    assert TryOut.objects.filter(pk=finished.pk).exists() and default_storage.exists(finished.file.name)


def test_an_expired_try_out_is_gone_for_its_owner_too(client, radiologist, finished):
    TryOut.objects.filter(pk=finished.pk).update(expires_at=timezone.now())
    client.force_login(radiologist)
    assert client.get(f"/tryout/{finished.pk}.json").status_code == 404


def test_save_as_case_goes_through_intake_and_removes_the_try_out(
    client, radiologist, finished, media_dir, mocker
):
    mocker.patch("inference.services.run_predictions.delay")
    intake = mocker.spy(tryout_services, "intake_sources")
    client.force_login(radiologist)
    response = client.post(reverse("inference:tryout_save", args=[finished.pk]))
    case = Case.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "cases:case_detail", args=[case.pk]
    )
    intake.assert_called_once()
    assert (
        intake.call_args.kwargs["task"] == Task.BRAIN_MRI and intake.call_args.kwargs["user"] == radiologist
    )
    assert case.task == Task.BRAIN_MRI and case.site == radiologist.site and case.created_by == radiologist
    image = Image.objects.get(case=case)
    assert default_storage.exists(image.file.name)
    assert IntakeBatch.objects.get().source == "web"
    assert not TryOut.objects.exists()
    assert files_under(media_dir, "tryout") == [] and not (media_dir / finished.storage_prefix).exists()
    page = client.get(response["Location"]).content.decode()
    assert f"Saved as case {case.pk}" in page


def test_the_original_of_a_saved_try_out_is_a_duplicate_on_upload(
    client, radiologist, start, random_model, glioma, tmp_path, mocker
):
    """The case keeps the uploaded bytes' SHA-256, not the de-identified copy's, so a re-upload adds nothing."""
    from PIL import Image as PILImage

    from cases.services.intake import intake_sources

    tagged = tmp_path / "tagged.jpg"  # a JPEG with an identifying EXIF tag: its stored copy is stripped
    exif = PILImage.Exif()
    exif[0x013B] = "Jane Doe"  # Artist
    PILImage.open(glioma).save(tagged, "JPEG", quality=95, exif=exif)
    created = start(radiologist, tagged)
    mocker.patch("inference.services.run_predictions.delay")
    client.force_login(radiologist)
    assert client.post(reverse("inference:tryout_save", args=[created.pk])).status_code == 302
    image = Image.objects.get()
    original = tagged.read_bytes()
    assert image.sha256 == hashlib.sha256(original).hexdigest() != image.stored_sha256
    report = intake_sources(
        uploads=[(tagged.name, original)],
        site=radiologist.site,
        user=radiologist,
        source=IntakeBatch.Source.WEB,
    )
    (item,) = report.items
    assert item.status == "duplicate" and item.image_id == image.pk and "already uploaded" in item.reason
    assert Image.objects.count() == 1 and Case.objects.count() == 1


def test_trying_out_needs_upload_permission(client, reviewer, start, random_model, glioma, media_dir):
    # Issue 24 item 7: a Reviewer could create try-outs (store an image, run the model) before.
    client.force_login(reviewer)
    assert client.get(reverse("inference:tryout")).status_code == 403
    response = client.post(reverse("inference:tryout"), {"task": "brain_mri", "file": glioma})
    assert response.status_code == 403 and "needs upload permission" in response.content.decode()
    with pytest.raises(PermissionDenied):
        start(reviewer, glioma)
    assert not TryOut.objects.exists() and files_under(media_dir) == []
    assert 'href="/tryout/"' not in client.get(reverse("cases:worklist")).content.decode()


def test_a_curator_chooses_the_site(client, curator, site, start, random_model, glioma, mocker):
    mocker.patch("inference.services.run_predictions.delay")
    created = start(curator, glioma)
    client.force_login(curator)
    url = reverse("inference:tryout_save", args=[created.pk])
    response = client.post(url)
    assert response.status_code == 400 and "This field is required" in response.content.decode()
    assert client.post(url, {"site": site.pk}).status_code == 302
    assert Case.objects.get().site == site


def test_saving_an_image_that_was_already_uploaded_adds_nothing(
    client, radiologist, brain_case, start, random_model, data_dir
):
    uploaded = sorted((data_dir / "brain_mri" / "train" / "meningioma").glob("*.jpg"))[0]  # as brain_case did
    earlier = Image.objects.get(case__in=brain_case, sha256=hashlib.sha256(uploaded.read_bytes()).hexdigest())
    created = start(radiologist, uploaded)
    client.force_login(radiologist)
    response = client.post(reverse("inference:tryout_save", args=[created.pk]))
    assert response.status_code == 400
    assert f"already uploaded (image {earlier.pk}, case {earlier.case_id})" in response.content.decode()
    assert TryOut.objects.filter(pk=created.pk).exists() and Case.objects.count() == 2


def test_discard_deletes_files_then_row(client, radiologist, finished, media_dir):
    client.force_login(radiologist)
    response = client.post(reverse("inference:tryout_discard", args=[finished.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("inference:tryout")
    assert "Try-out discarded. Nothing was kept." in response.content.decode()
    assert not TryOut.objects.exists() and files_under(media_dir) == []


def test_tryout_is_audited_as_web_and_enforces_csrf(radiologist, random_model, glioma, mocker):
    from django.test import Client

    from cases.models import AuditEvent

    mocker.patch("inference.tryout.services.run_tryout.delay")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(radiologist)
    upload = {"task": "brain_mri", "file": SimpleUploadedFile(glioma.name, glioma.read_bytes())}
    assert strict.post(reverse("inference:tryout"), upload).status_code == 403
    assert not TryOut.objects.exists()

    client = Client()
    client.force_login(radiologist)
    upload["file"].seek(0)
    assert client.post(reverse("inference:tryout"), upload).status_code == 302
    event = AuditEvent.objects.get(action="tryout.created")
    assert (event.source, event.actor, event.ip_address) == ("web", radiologist, "127.0.0.1")


def test_tryout_with_too_many_files_is_a_400(client, radiologist, random_model, glioma, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 1
    client.force_login(radiologist)
    files = [SimpleUploadedFile(f"{i}.jpg", glioma.read_bytes()) for i in range(2)]
    response = client.post(reverse("inference:tryout"), {"task": "brain_mri", "file": files})
    assert response.status_code == 400
    assert "The form data was malformed or too large. Nothing was stored." in response.content.decode()
    assert not TryOut.objects.exists()
