"""The OpenAPI schema: valid with no warning, and every /api/v1/ operation documented the same way.

These tests read whatever endpoints exist, so a new endpoint is checked the
moment it is routed: a summary, an operationId, its path parameters described,
an error response with the shared Error body, and an example of what it takes
or returns.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")
ERROR_REF = "#/components/schemas/Error"
# The schema and its viewers describe the API; they are not operations of it.
NOT_OPERATIONS = ("/api/v1/schema/", "/api/v1/docs/", "/api/v1/redoc/")


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker) -> dict[str, Any]:
    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], list[dict[str, Any]]]]:
    """(method, path, operation, parameters shared by the path) for every operation under /api/v1/."""
    found = []
    for path, item in schema["paths"].items():
        if not path.startswith("/api/v1/") or path.startswith(NOT_OPERATIONS):
            continue
        for method in METHODS:
            if method in item:
                found.append((method, path, item[method], item.get("parameters", [])))
    return found


def _has_example(media: dict[str, Any]) -> bool:
    return bool(media.get("examples") or "example" in media or "example" in media.get("schema", {}))


def _problems(method: str, path: str, op: dict[str, Any], shared: list[dict[str, Any]]) -> list[str]:
    where = f"{method.upper()} {path}"
    problems = []
    if not (op.get("summary") or "").strip():
        problems.append(f"{where}: no summary")
    if not op.get("operationId"):
        problems.append(f"{where}: no operationId")

    responses: dict[str, Any] = op.get("responses", {})
    error_statuses = [
        status
        for status, response in responses.items()
        if status.startswith("4")
        and any(
            media.get("schema", {}).get("$ref") == ERROR_REF for media in response.get("content", {}).values()
        )
    ]
    if not error_statuses:
        problems.append(f"{where}: no 4xx response with the Error body (use api.schema.errors(...))")

    # An example of what the call takes or gives back: a request body, or a successful JSON
    # response. Calls whose successes have no JSON body (an image, 204) need none there.
    bodies = list(op.get("requestBody", {}).get("content", {}).values())
    json_successes = [
        media
        for status, response in responses.items()
        if status.startswith("2")
        for content_type, media in response.get("content", {}).items()
        if "json" in content_type
    ]
    if (bodies or json_successes) and not any(_has_example(m) for m in bodies + json_successes):
        problems.append(f"{where}: no example of its request body or successful response")

    documented = {
        p["name"]: p for p in [*shared, *op.get("parameters", [])] if p.get("in") == "path" and "name" in p
    }
    for name in re.findall(r"{([^}]+)}", path):
        parameter = documented.get(name)
        if parameter is None:
            problems.append(f"{where}: path parameter {name} not documented")
        elif not (parameter.get("description") or "").strip():
            problems.append(f"{where}: path parameter {name} has no description")
    return problems


def test_schema_validates_with_no_warning(tmp_path, capsys):
    GENERATOR_STATS.reset()  # warnings of schemas made earlier in this process are not this one's
    target = tmp_path / "schema.yaml"
    try:
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    except Exception as exc:
        pytest.fail(f"{exc}\n{capsys.readouterr().err}")
    assert target.stat().st_size > 0


def test_every_operation_is_documented(schema):
    operations = _operations(schema)
    assert ("get", "/api/v1/me/") in {(method, path) for method, path, _, _ in operations}
    problems = [p for method, path, op, shared in operations for p in _problems(method, path, op, shared)]
    assert problems == []


def test_operation_ids_are_unique(schema):
    ids = [op.get("operationId") for _, _, op, _ in _operations(schema)]
    assert sorted(i for i in set(ids) if ids.count(i) > 1) == []


def test_the_checks_catch_an_undocumented_operation():
    # The walk above must be able to fail: a bare operation breaks every rule.
    bare = {"responses": {"200": {"content": {"application/json": {"schema": {"type": "object"}}}}}}
    problems = _problems("get", "/api/v1/things/{id}/", bare, [])
    assert [p.split(": ", 1)[1] for p in problems] == [
        "no summary",
        "no operationId",
        "no 4xx response with the Error body (use api.schema.errors(...))",
        "no example of its request body or successful response",
        "path parameter id not documented",
    ]
