"""The shared cursor pagination: pages by following next, and a bad page_size or cursor as a 4xx body."""

from __future__ import annotations

from base64 import b64encode

import pytest

from api.services.tokens import token_create

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.api.testonly_urls")]
LIST = "/api/v1/test-only/tokens/"


@pytest.fixture
def client_with_rows(curator, token_client):
    client = token_client(curator, "read")  # this token is row 1
    for n in range(4):
        token_create(user=curator, name=f"t{n}", scopes="read")
    return client


def test_following_next_visits_every_row_newest_first(client_with_rows):
    seen, url = [], f"{LIST}?page_size=2"
    while url:
        body = client_with_rows.get(url).json()
        assert set(body) == {"next", "previous", "results"} and len(body["results"]) <= 2
        seen += [row["name"] for row in body["results"]]
        url = body["next"]
        assert url is None or url.startswith("http://testserver/")
    assert seen == ["t3", "t2", "t1", "t0", "test"]


@pytest.mark.parametrize(
    "size", ["0", "201", "-1", "abc", "1.5", "", "\uff12"]
)  # a full-width 2: isdigit() but not ASCII
def test_bad_page_size_is_a_400_naming_it(client_with_rows, size):
    response = client_with_rows.get(LIST, {"page_size": size})
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid",
        "message": "The request has invalid fields; see errors.",
        "errors": {"page_size": ["A whole number from 1 to 200."]},
    }


@pytest.mark.parametrize(
    "cursor",
    [
        "not-base64!",
        "é",
        b64encode(b"p=abc").decode(),  # decodes, but no primary key
        b64encode(b"p=99999999999999999999999").decode(),  # past any integer column
        b64encode(b"o=-1").decode(),
    ],
)
def test_bad_cursor_is_a_404_with_the_error_body(client_with_rows, cursor):
    response = client_with_rows.get(LIST, {"cursor": cursor})
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "invalid_cursor" and "next or previous link" in body["message"]
    assert body["errors"] == {}


def test_paginated_lists_document_their_400_and_404(settings):
    from drf_spectacular.generators import SchemaGenerator

    settings.ROOT_URLCONF = "tests.api.testonly_urls"
    operation = SchemaGenerator().get_schema(request=None, public=True)["paths"][LIST]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert params["page_size"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 200}
    assert params["cursor"]["description"]
    for status in ("400", "404"):
        content = operation["responses"][status]["content"]["application/json"]
        assert content["schema"] == {"$ref": "#/components/schemas/Error"}
        assert content["examples"]
