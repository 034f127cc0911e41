"""Every web page and action, as every principal, on an own, a foreign and a missing object.

``PAGES`` (web_table.py) is the table and ``expected_web`` derives each
cell's status from its row. Per cell: the status; no foreign data in the
body (the world's marker strings); and, wherever the foreign object is
refused, the same status and the same body (modulo the id) as for an object
that does not exist, so a refusal never tells that it exists.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.access.api_calls import Answer
from tests.access.oracle import oracle_problems
from tests.access.principals import FOREIGN, MISSING, OWN
from tests.access.rules import forbidden_strings
from tests.access.web_calls import call_web, expected_web
from tests.access.web_table import PAGES, WEB_PRINCIPALS, Page
from tests.access.world import World


@pytest.fixture
def web_clients(world: World, db: None) -> dict[str, Client]:
    made: dict[str, Client] = {}
    for who in WEB_PRINCIPALS:
        client = Client()
        if who.username:
            client.force_login(world.users[who.username])
        made[who.name] = client
    return made


def _problems(page: Page, answers: dict[tuple[str, str], Answer], world: World) -> list[str]:
    found = []
    for who in WEB_PRINCIPALS:
        for which in page.columns:
            answer = answers[who.name, which]
            want = expected_web(page, who, which)
            text = answer.content.decode("latin-1")
            where = f"{page} as {who.name}, {which}"
            if answer.status not in want:
                found.append(f"{where}: status {answer.status}, expected {sorted(want)}: {text[:200]!r}")
            login = answer.headers.get("location", "").startswith("/login/?next=")
            if answer.status == 302 and who.kind == "anonymous" and not login:
                found.append(f"{where}: redirected to {answer.headers.get('location')!r}, not the login page")
            leaked = sorted(s for s in forbidden_strings(who, world) if s in text)
            if leaked:
                found.append(f"{where}: foreign data in the body: {leaked}")
            if page.shows and answer.status == 200:
                sites = [s for s in (OWN, FOREIGN) if who.all_sites or s == OWN]
                missing = [s for site in sites for s in page.shows(world, site) if s not in text]
                if missing:
                    found.append(f"{where}: the answer lacks {missing}")
        if MISSING in page.columns and expected_web(page, who, FOREIGN) != page.ok:
            pair: list[tuple[int, str, str]] = [
                (
                    answers[who.name, w].status,
                    answers[who.name, w].content.decode("latin-1"),
                    page.path(world, w),
                )
                for w in (FOREIGN, MISSING)
            ]
            found += [f"{page} as {who.name}: {p}" for p in oracle_problems(pair[0], pair[1])]
    return found


@pytest.mark.parametrize("page", PAGES, ids=str)
def test_access(page: Page, world: World, web_clients: dict[str, Client]) -> None:
    answers = {
        (who.name, which): call_web(web_clients[who.name], page, which, world)
        for who in WEB_PRINCIPALS
        for which in page.columns
    }
    problems = _problems(page, answers, world)
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)


def test_a_method_a_page_does_not_take_is_405(world: World, web_clients: dict[str, Client]) -> None:
    """GET on a POST-only action (and the reverse), signed in as a Curator: 405, whatever the object."""
    methods: dict[str, set[str]] = {}
    first: dict[str, Page] = {}
    for page in PAGES:
        methods.setdefault(page.name, set()).add(page.method)
        first.setdefault(page.name, page)
    problems = []
    for name, allowed in methods.items():
        for method in {"GET", "POST"} - allowed:
            page = first[name]
            probe: Any = Page(name, method, page.path, scoping=page.scoping)
            answer = call_web(
                web_clients["curator"], probe, FOREIGN if MISSING in page.columns else "own", world
            )
            if answer.status != 405:
                problems.append(f"{method} {name}: {answer.status}, expected 405")
    assert not problems, "\n".join(problems)
