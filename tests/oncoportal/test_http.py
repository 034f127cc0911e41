"""The upload guard: size before the body is read, then CSRF, then Django's parse limits as clear 4xx."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.test import RequestFactory

from oncoportal.http import MALFORMED, UploadMessages, content_length, upload_guard


def _refuse(status: int, message: str) -> HttpResponse:
    return HttpResponse(message, status=status)


def _post(data=None, **extra):
    request = RequestFactory().post(
        "/upload/", data or {"file": SimpleUploadedFile("a.bin", b"x" * 100)}, **extra
    )
    request._dont_enforce_csrf_checks = True  # as the test client does; CSRF has tests of its own below
    return request


def test_content_length_is_zero_when_missing_or_not_a_number():
    request = RequestFactory().post("/", data=b"abc", content_type="application/octet-stream")
    assert content_length(request) == 3
    for value in ("", "12x", "-5"):
        request.META["CONTENT_LENGTH"] = value
        assert content_length(request) == 0


def test_too_large_is_a_413_before_the_body_is_read(mocker, settings):
    settings.INTAKE_MAX_REQUEST_BYTES = 100
    parse = mocker.patch("django.http.multipartparser.MultiPartParser.parse", side_effect=AssertionError)
    request = _post()
    response = upload_guard(request, refuse=_refuse)
    assert response.status_code == 413
    size = int(request.META["CONTENT_LENGTH"])
    assert (
        response.content.decode()
        == f"This upload is {size}\xa0bytes, over the 100\xa0bytes limit. Nothing was stored."
    )
    parse.assert_not_called()
    mocker.stopall()
    # An explicit limit wins over the setting (an API may allow less or more).
    assert upload_guard(_post(), refuse=_refuse, max_bytes=10**6) is None


def test_within_the_limit_the_form_is_parsed_and_passes(settings):
    settings.INTAKE_MAX_REQUEST_BYTES = 10**6
    request = _post()
    assert upload_guard(request, refuse=_refuse) is None
    assert request.FILES["file"].read() == b"x" * 100


def test_parse_limits_become_clear_400s(settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 1
    files = {"file": [SimpleUploadedFile(f"{i}.bin", b"x") for i in range(2)]}
    words = UploadMessages(too_many_files="At most {max_files} file.", malformed="Bad form.")
    response = upload_guard(_post(files), refuse=_refuse, messages=words)
    assert (response.status_code, response.content) == (400, b"At most 1 file.")

    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 1
    response = upload_guard(_post({"a": "1", "b": "2"}), refuse=_refuse, messages=words)
    assert (response.status_code, response.content) == (400, b"Bad form.")

    broken = RequestFactory().generic("POST", "/", b"x", content_type="multipart/form-data")  # no boundary
    broken._dont_enforce_csrf_checks = True
    response = upload_guard(broken, refuse=_refuse)
    assert (response.status_code, response.content.decode()) == (400, MALFORMED)


def test_without_parse_the_body_is_left_to_the_caller(mocker):
    # STOW-RS bodies are multipart/related, which Django does not parse.
    parse = mocker.patch("django.http.multipartparser.MultiPartParser.parse", side_effect=AssertionError)
    request = _post()
    assert upload_guard(request, refuse=_refuse, parse=False) is None
    parse.assert_not_called()


@pytest.mark.django_db
def test_csrf_is_checked_unless_turned_off():
    request = RequestFactory().post("/upload/", {"file": SimpleUploadedFile("a.bin", b"x")})
    response = upload_guard(request, refuse=_refuse)
    assert response.status_code == 403  # Django's own CSRF failure page

    # A token-authenticated API has no CSRF to check.
    request = RequestFactory().post("/upload/", {"file": SimpleUploadedFile("a.bin", b"x")})
    assert upload_guard(request, refuse=_refuse, csrf=False) is None

    # A browser's token (cookie plus form field) passes.
    token = get_token(RequestFactory().get("/"))
    request = RequestFactory().post(
        "/upload/", {"csrfmiddlewaretoken": token, "file": SimpleUploadedFile("a.bin", b"x")}
    )
    request.COOKIES[django_settings.CSRF_COOKIE_NAME] = token
    assert upload_guard(request, refuse=_refuse) is None
