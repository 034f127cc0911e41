"""API-wide robustness: whatever a client gets wrong, the answer is a 4xx with {code, message, errors}.

Run against /api/v1/me/ and, for what me/ cannot show (a body to parse, a view
that fails), the test-only endpoints of tests/api/testonly_urls.py, which are
written the way the real endpoints are.
"""

from __future__ import annotations

import logging
import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.api.testonly_urls")]

ME = "/api/v1/me/"
ECHO = "/api/v1/test-only/echo/"


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"code", "message", "errors"}, body
    assert body["code"] == code and body["message"], body
    assert isinstance(body["errors"], dict)
    return body


@pytest.fixture
def api(integration, token_client) -> APIClient:
    return token_client(integration, "read,upload")


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_other_methods_on_me_are_405_with_allow(api, method):
    response = getattr(api, method)(ME, {"username": "x"}, format="json")
    _error(response, 405, "method_not_allowed")
    assert set(response["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "OPTIONS"}


def test_head_and_options(api):
    head = api.head(ME)
    assert head.status_code == 200 and head.content == b""
    options = api.options(ME)
    assert options.status_code == 200 and options.json()["name"]
    _error(APIClient().options(ME), 401, "not_authenticated")  # no description without a token


def test_html_only_client_gets_406_in_json(api):
    body = _error(api.get(ME, HTTP_ACCEPT="text/html"), 406, "not_acceptable")
    assert "Accept" in body["message"]
    # A browser's Accept header ends with */*: it gets JSON.
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert api.get(ME, HTTP_ACCEPT=browser).status_code == 200


def test_invalid_json_is_a_400_parse_error(api):
    body = _error(api.post(ECHO, '{"name": "x",', content_type="application/json"), 400, "parse_error")
    assert "JSON" in body["message"]
    _error(api.post(ECHO, "[1, 2]", content_type="application/json"), 400, "invalid")


def test_wrong_content_type_is_a_415(api):
    body = _error(api.post(ECHO, "name=x", content_type="text/plain"), 415, "unsupported_media_type")
    assert "text/plain" in body["message"]
    _error(api.post(ECHO, {"name": "x"}), 415, "unsupported_media_type")  # multipart: this one takes JSON


def test_field_errors_name_the_fields(api):
    body = _error(api.post(ECHO, {"count": -1, "nmae": "typo"}, format="json"), 400, "invalid")
    assert set(body["errors"]) == {"name", "count", "nmae"}
    assert body["errors"]["nmae"] == ["Unknown field."]
    assert body["errors"]["name"] == ["This field is required."]
    assert api.post(ECHO, {"name": "ok", "count": 2}, format="json").json() == {"name": "ok", "count": 2}


def test_credentials_are_checked_before_the_body(api, integration, token_client):
    _error(APIClient().post(ECHO, "{", content_type="application/json"), 401, "not_authenticated")
    read_only = token_client(integration, "read")
    body = _error(read_only.post(ECHO, "{", content_type="application/json"), 403, "permission_denied")
    assert "'upload' scope" in body["message"]
    _error(APIClient(HTTP_AUTHORIZATION="Basic cGFjczp4").get(ME), 401, "not_authenticated")


def test_session_post_without_csrf_is_403(radiologist):
    client = Client(enforce_csrf_checks=True)
    client.force_login(radiologist)
    assert client.get(ME).status_code == 200
    body = _error(client.post(ECHO, {"name": "x"}, content_type="application/json"), 403, "permission_denied")
    assert "CSRF" in body["message"]


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("invalid", 400, "invalid"),
        ("conflict", 409, "conflict"),
        ("missing", 404, "not_found"),
        ("denied", 403, "permission_denied"),
    ],
)
def test_domain_and_django_errors_keep_their_message(api, kind, status, code):
    from tests.api.testonly_urls import RAISED

    body = _error(api.get(f"/api/v1/test-only/raise/{kind}/"), status, code)
    assert body["message"] == str(RAISED[kind])


def test_an_unexpected_exception_is_a_500_with_a_logged_reference(api, caplog):
    with caplog.at_level(logging.ERROR, logger="oncoportal.exceptions"):
        body = _error(api.get("/api/v1/test-only/raise/bug/"), 500, "server_error")
    assert "secret detail" not in str(body)
    reference = re.search(r"reference ([0-9a-f]{12})", body["message"]).group(1)
    [record] = [r for r in caplog.records if r.name == "oncoportal.exceptions"]
    assert reference in record.getMessage()
    assert record.exc_info and "secret detail" in str(
        record.exc_info[1]
    )  # the log has what the client has not


def test_unknown_paths_and_methods_under_api_are_json(api):
    _error(api.post("/api/v1/nothing/", {}, format="json"), 404, "not_found")
    _error(api.get("/api/v1/test-only/raise/unknown-kind-is-a-bug/"), 500, "server_error")
