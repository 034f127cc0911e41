"""Every REST API endpoint, as every principal, on the own and a foreign site: the status each gets, and no foreign data in any body.

Issue 18 asks for it. ``ENDPOINTS`` is the table: per route and method, the
call (its path for an object of the own and of the foreign site, a valid
body), the token scope and role permission it needs, and how its objects are
scoped. ``expected`` derives every cell's status from that row and the
principal, in the order the API decides (credentials, CSRF, role, scope, role
permission, then the object), so no status is typed per cell.

The world (two sites, each with a predicted case, a failed case, a disputed
case, an upload batch, a try-out, a webhook subscription, a result destination; one model version)
is built once for the module, inside a transaction that is rolled back when
the module ends. Every call runs in a savepoint that is rolled back, so what
one cell writes (a review, a retry, a deleted subscription) no other cell
sees. Files are the exception: the DELETE score/ row has try-outs of its own.

One test per table row runs all its cells and reports every mismatch at once.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

import api.urls
from api.models import Scope
from api.views.base import api_not_found
from tests.access.api_calls import call, cells, endpoint_problems
from tests.access.api_table import ENDPOINTS, V1, Endpoint
from tests.access.principals import FOREIGN, OWN, PRINCIPALS, Principal
from tests.access.rules import expected, forbidden_strings
from tests.access.world import World

# Routes that hold no data and need no account (the schema and its two viewers).
UNLISTED = {"schema", "docs", "redoc"}


# --- Tests ---------------------------------------------------------------------
def test_every_route_has_a_row() -> None:
    """A route or method added to api/urls.py without a row in ENDPOINTS fails here."""
    routed: set[tuple[str | None, str]] = set()
    for pattern in api.urls.urlpatterns:
        if pattern.callback is api_not_found or getattr(pattern, "name", None) in UNLISTED:
            continue
        view = pattern.callback.view_class  # type: ignore[attr-defined]
        for method in ("get", "post", "put", "patch", "delete"):
            if hasattr(view, method):
                routed.add((pattern.name, method.upper()))
    table: list[tuple[str | None, str]] = [(e.name, e.method) for e in ENDPOINTS]
    assert len(table) == len(set(table)), "a route and method twice in ENDPOINTS"
    rows = set(table)
    assert routed == rows, f"missing rows: {routed - rows}; rows without a route: {rows - routed}"


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_access(endpoint: Endpoint, world: World, clients: dict[str, APIClient]) -> None:
    problems = endpoint_problems(endpoint, world, clients)
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)


def test_a_browser_session_needs_the_csrf_token_for_unsafe_calls(
    world: World, clients: dict[str, APIClient]
) -> None:
    patch = next(e for e in ENDPOINTS if (e.name, e.method) == ("case_detail", "PATCH"))
    bare = call(clients["session-no-csrf"], patch, PRINCIPALS[-1], OWN, world)
    assert bare.status == 403 and "CSRF" in json.loads(bare.content)["message"]
    with_token = call(clients["session"], patch, PRINCIPALS[-2], OWN, world)
    assert with_token.status == 200, with_token.content
    assert json.loads(with_token.content)["priority"] == 1


def test_the_matrix_reaches_every_outcome() -> None:
    """Each denial the API has is exercised somewhere, and every row has cells that succeed."""
    outcomes: dict[int, int] = {}
    for endpoint in ENDPOINTS:
        allowed = 0
        for who, which in cells(endpoint):
            want = expected(endpoint, who, which)
            for status in want:
                outcomes[status] = outcomes.get(status, 0) + 1
            allowed += want == endpoint.ok
        assert allowed, f"{endpoint}: no principal may call it"
    assert {400, 401, 403, 404} <= set(outcomes), outcomes


def _fixed(method: str, path: str, body: dict[str, Any] | None) -> Endpoint:
    """A one-off call for ``call``: a fixed path and body."""

    def to(w: World, which: str) -> str:
        return path

    def send(w: World, who: Principal, which: str) -> dict[str, Any]:
        return dict(body or {})

    return Endpoint("one-off", method, to, Scope.READ, body=send if body is not None else None)


def test_a_foreign_object_named_in_a_body_or_query_is_refused_unseen(
    world: World, clients: dict[str, APIClient]
) -> None:
    """The own site's object in the path, the foreign site's in the body or the query string."""
    own, foreign = world[OWN], world[FOREIGN]
    by_name = {who.name: who for who in PRINCIPALS}
    review = f"{V1}/cases/{own.case.pk}/reviews/"
    decide = f"{V1}/cases/{own.disputed.pk}/adjudications/"
    checks: list[tuple[str, str, str, dict[str, Any] | None, int]] = [
        ("reviewer", "POST", review, {"image": foreign.image.pk, "label": "glioma"}, 404),
        ("curator", "POST", review, {"image": foreign.image.pk, "label": "glioma"}, 404),
        ("curator", "POST", decide, {"image": foreign.disputed_image.pk, "label": "glioma"}, 404),
        ("radiologist", "GET", f"{V1}/cases/?site={foreign.code}", None, 400),
        ("integration-read", "GET", f"{V1}/cases/?site={foreign.code}", None, 400),
        ("curator", "GET", f"{V1}/cases/?site={foreign.code}", None, 200),
    ]
    problems = []
    for name, method, path, body, status in checks:
        who = by_name[name]
        answer = call(clients[name], _fixed(method, path, body), who, OWN, world)
        text = answer.content.decode("latin-1")
        if answer.status != status:
            problems.append(f"{method} {path} as {name}: {answer.status}, expected {status}: {text[:300]}")
        leaked = sorted(s for s in forbidden_strings(who, world) if s in text)
        if leaked:
            problems.append(f"{method} {path} as {name}: foreign data {leaked}")
        if who.all_sites and answer.status == 200 and f'"site":"{own.code}"' in text:
            problems.append(f"{method} {path} as {name}: the site filter let the own site's cases through")
    assert not problems, "\n".join(problems)
