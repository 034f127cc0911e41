"""Calling the web UI as a principal, and what each cell expects."""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.test import Client

from tests.access.api_calls import Answer
from tests.access.principals import Principal
from tests.access.rules import visible_for
from tests.access.web_table import Page, ui_user
from tests.access.world import World


def expected_web(page: Page, who: Principal, which: str) -> frozenset[int]:
    """The status of one cell, in the order the web views decide (see web_table)."""
    if who.kind == "anonymous":
        return frozenset({302})  # LoginRequiredMiddleware: to the login page
    if not ui_user(who):
        return frozenset({403})
    if page.need and not who.has(page.need):
        return frozenset({403})
    if not visible_for(page.scoping, who, which):
        return frozenset({404})
    if page.after and not who.has(page.after):
        return frozenset({403})
    return page.ok


def call_web(client: Client, page: Page, which: str, world: World) -> Answer:
    """One call inside a savepoint that is rolled back: no cell sees another's writes."""
    path = page.path(world, which)
    cache.clear()
    # A flash message another cell left ("Priority set to…") would show on this cell's page; the
    # savepoint does not roll back the cookie that carries it.
    client.cookies.pop("messages", None)
    response: Any
    with transaction.atomic():
        if page.method == "GET":
            response = client.get(path)
        else:
            response = client.post(path, page.body(world, which) if page.body else {})
        content = b"".join(response.streaming_content) if response.streaming else response.content
        transaction.set_rollback(True)
    return Answer(response.status_code, content, {k.lower(): v for k, v in response.headers.items()})
