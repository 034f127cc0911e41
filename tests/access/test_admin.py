"""The Django admin, per registered model: who gets in, and which Curator may do what.

The rule: signed out or not staff, every admin URL redirects to the admin's
login page (nothing of the object shows). The superuser gets what each
ModelAdmin allows (read-only admins refuse add, change or delete to
everyone); a Curator gets the same where the role grants the model
permission the view needs (ROLE_PERMISSIONS), and 403 where it does not.
Curators see every site, so a case of any site is theirs to open here;
the site scoping of the admin is the Curator role itself.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.test import Client

from tests.access.api_calls import Answer
from tests.access.principals import Principal
from tests.access.rules import forbidden_strings
from tests.access.web_table import WEB_PRINCIPALS
from tests.access.world import World

ADMIN_PRINCIPALS = [
    who for who in WEB_PRINCIPALS if who.name in ("anonymous", "radiologist", "curator", "superuser")
]
# Per admin view: the model permissions (any one of them) it needs, and whether it needs an object.
VIEWS = {
    "changelist": (("view", "change"), False),
    "add": (("add",), False),
    "change": (("view", "change"), True),
    "history": (("view", "change"), True),
    "delete": (("delete",), True),
}


def _get(client: Client, path: str) -> Answer:
    from django.db import transaction

    with transaction.atomic():
        response = client.get(path)
        transaction.set_rollback(True)
    return Answer(response.status_code, response.content, {k.lower(): v for k, v in response.headers.items()})


def _paths(model: Any) -> list[tuple[str, str]]:
    """(view, path) for one registered model; the object views on its first row."""
    meta = model._meta
    base = f"/admin/{meta.app_label}/{meta.model_name}/"
    first = model._default_manager.order_by("pk").first()
    made = []
    for view, (_, needs_object) in VIEWS.items():
        if needs_object and first is None:
            continue
        if view == "changelist":
            made.append((view, base))
        elif view == "add":
            made.append((view, f"{base}add/"))
        else:
            made.append((view, f"{base}{first.pk}/{view}/"))
    return made


def site_strings(who: Principal, world: World) -> set[str]:
    """What an admin page must not show this principal: another site's data, unless it sees all sites.

    Staff here see every site. Try-outs are their maker's alone on the web and the API, but the
    superuser sees every row in the admin, and the audit log (Curators: view_auditevent) names
    each try-out by id, as it names everything it records.
    """
    return set() if who.all_sites else forbidden_strings(who, world)


def _may(who: Principal, model: Any, view: str) -> bool:
    meta = model._meta
    return any(who.has(f"{meta.app_label}.{action}_{meta.model_name}") for action in VIEWS[view][0])


@pytest.mark.parametrize("model", list(admin.site._registry), ids=lambda m: m._meta.label)
def test_admin_model(model: Any, world: World) -> None:
    clients = {}
    for who in ADMIN_PRINCIPALS:
        clients[who.name] = client = Client()
        if who.username:
            client.force_login(world.users[who.username])
    problems = []
    for view, path in _paths(model):
        reference = _get(clients["superuser"], path)
        if reference.status not in (200, 403):
            problems.append(f"{path} as superuser: {reference.status}")
        for who in ADMIN_PRINCIPALS:
            answer = reference if who.superuser else _get(clients[who.name], path)
            text = answer.content.decode("latin-1")
            staff = who.superuser or who.name == "curator"
            if not staff:
                want = 302
            elif who.superuser:
                want = reference.status
            else:
                want = reference.status if _may(who, model, view) else 403
            if answer.status != want:
                problems.append(f"{path} as {who.name}: {answer.status}, expected {want}")
            login = ("/login/", "/admin/login/") if who.kind == "anonymous" else ("/admin/login/",)
            if (
                answer.status == 302
                and not staff
                and not answer.headers.get("location", "").startswith(login)
            ):
                problems.append(f"{path} as {who.name}: redirected to {answer.headers.get('location')}")
            leaked = sorted(s for s in site_strings(who, world) if s in text)
            if leaked:
                problems.append(f"{path} as {who.name}: foreign data {leaked}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", ["/admin/", "/admin/cases/", "/admin/password_change/", "/admin/jsi18n/"])
def test_admin_site_pages(path: str, world: World) -> None:
    """The admin's own pages: staff only; everyone else to the admin's login page."""
    for who in ADMIN_PRINCIPALS:
        client = Client()
        if who.username:
            client.force_login(world.users[who.username])
        answer = _get(client, path)
        staff = who.superuser or who.name == "curator"
        login = ("/login/", "/admin/login/") if who.kind == "anonymous" else ("/admin/login/",)
        if staff:
            assert answer.status == 200, (path, who.name, answer.status)
        else:
            assert answer.status == 302 and answer.headers["location"].startswith(login), (
                path,
                who.name,
                answer.status,
            )
