"""Issue 24 item 7: every response carries a Content-Security-Policy and a Permissions-Policy."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/login/", "/", "/api/v1/docs/", "/api/v1/redoc/", "/admin/login/"])
def test_pages_forbid_inline_scripts_and_unused_browser_features(client, radiologist, path):
    client.force_login(radiologist)
    response = client.get(path)
    assert response.status_code in (200, 302)
    csp = response.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    policy = response.headers["Permissions-Policy"]
    assert "camera=()" in policy and "microphone=()" in policy and "geolocation=()" in policy


def test_the_api_docs_load_their_start_up_script_as_a_file(client, radiologist):
    html = client.get(reverse("api:docs")).content.decode()
    assert "<script>" not in html.replace(" ", "")  # every script has a src (the CSP allows no inline one)
    assert "?script=" in html or "script=" in html


def test_api_answers_carry_the_headers_too(client):
    response = client.get("/api/v1/cases/")
    assert response.status_code == 401
    assert "Content-Security-Policy" in response.headers and "Permissions-Policy" in response.headers
