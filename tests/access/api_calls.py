"""Calling the API as a principal, and checking one answer against its cell."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import transaction
from rest_framework.test import APIClient

from tests.access.api_table import Endpoint
from tests.access.oracle import oracle_problems
from tests.access.principals import (
    CSRF_SECRET,
    ERROR_KEYS,
    FOREIGN,
    GLOBAL,
    MISSING,
    OWN,
    PRINCIPALS,
    SAFE,
    Principal,
)
from tests.access.rules import expected, forbidden_strings
from tests.access.world import World


# --- Calling -------------------------------------------------------------------
@dataclass
class Answer:
    status: int
    content: bytes
    headers: dict[str, str]


def call(client: APIClient, endpoint: Endpoint, who: Principal, which: str, world: World) -> Answer:
    """One call inside a savepoint that is rolled back: no cell sees another's writes."""
    path = endpoint.path(world, which)
    extra: dict[str, Any] = {}
    if who.kind == "session" and endpoint.method not in SAFE:
        extra["HTTP_X_CSRFTOKEN"] = CSRF_SECRET
    data = endpoint.body(world, who, which) if endpoint.body else None
    cache.clear()  # throttle and failed-sign-in counters
    response: Any
    with transaction.atomic():
        send = getattr(client, endpoint.method.lower())
        if endpoint.accept:
            extra["HTTP_ACCEPT"] = endpoint.accept
        if endpoint.raw is not None:
            raw, content_type = endpoint.raw(world)
            response = client.generic(endpoint.method, path, raw, content_type=content_type, **extra)  # type: ignore[arg-type]
        elif endpoint.multipart:
            response = send(path, data, format="multipart", **extra)
        elif data is not None:
            response = send(path, data, format="json", **extra)
        else:
            response = send(path, **extra)
        # The test client closes the response itself (a streamed one once read); closing it again
        # here would fire request_finished, whose handler closes the connection mid-transaction.
        content = b"".join(response.streaming_content) if response.streaming else response.content
        transaction.set_rollback(True)
    return Answer(response.status_code, content, {k.lower(): v for k, v in response.headers.items()})


def problems_of(answer: Answer, endpoint: Endpoint, who: Principal, which: str, world: World) -> list[str]:
    found = []
    want = expected(endpoint, who, which)
    text = answer.content.decode("latin-1")
    if answer.status not in want:
        found.append(f"status {answer.status}, expected {sorted(want)}: {text[:300]}")
    if (
        answer.status >= 400 and answer.status not in endpoint.ok
    ):  # a denial or an error (STOW's 409 is DICOM JSON)
        try:
            body = json.loads(answer.content)
        except ValueError:
            body = None
        if not isinstance(body, dict) or set(body) != ERROR_KEYS:
            found.append(f"error body is not {{code, message, errors}}: {text[:300]}")
    if answer.status == 401 and not answer.headers.get("www-authenticate", "").startswith("Bearer"):
        found.append(f"401 without a Bearer challenge: {answer.headers.get('www-authenticate')!r}")
    leaked = sorted(s for s in forbidden_strings(who, world) if s in text)
    if leaked:
        found.append(f"foreign data in the body: {leaked}")
    if endpoint.shows and 200 <= answer.status < 300:
        sites = (
            [s for s in (OWN, FOREIGN) if who.all_sites or s == OWN]
            if endpoint.scoping == GLOBAL
            else [which]
        )
        missing = [s for site in sites for s in endpoint.shows(world, site) if s not in text]
        if missing:
            found.append(f"the answer lacks {missing}")
    return found


def cells(endpoint: Endpoint) -> Iterator[tuple[Principal, str]]:
    for who in PRINCIPALS:
        for which in endpoint.columns:
            yield who, which


def endpoint_problems(endpoint: Endpoint, world: World, clients: dict[str, APIClient]) -> list[str]:
    """Every cell of one row: its status, no foreign data, and no existence oracle."""
    problems = []
    answers: dict[tuple[str, str], Answer] = {}
    for who, which in cells(endpoint):
        answer = answers[who.name, which] = call(clients[who.name], endpoint, who, which, world)
        for problem in problems_of(answer, endpoint, who, which, world):
            problems.append(f"{endpoint} as {who.name}, {which} site: {problem}")
    for who in PRINCIPALS:
        if (who.name, MISSING) not in answers or expected(endpoint, who, FOREIGN) == endpoint.ok:
            continue  # no missing column, or the foreign object is this principal's to see
        pair = [answers[who.name, which] for which in (FOREIGN, MISSING)]
        for problem in oracle_problems(
            *[
                (a.status, a.content.decode("latin-1"), endpoint.path(world, w))
                for a, w in zip(pair, (FOREIGN, MISSING), strict=True)
            ]
        ):
            problems.append(f"{endpoint} as {who.name}: {problem}")
    return problems
