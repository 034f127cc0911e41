"""Deriving each cell's expected status, and what each principal must never see."""

from __future__ import annotations

from tests.access.api_table import Endpoint
from tests.access.principals import (
    FOREIGN,
    GLOBAL,
    MISSING,
    OWN,
    OWNER,
    SAFE,
    SITE,
    SITE_BODY,
    UPLOADERS,
    Principal,
)
from tests.access.world import World


# --- Deriving the expected status ----------------------------------------------
def visible(endpoint: Endpoint, who: Principal, which: str) -> bool:
    """Whether the account may see the object (or act on the site) the call names."""
    return visible_for(endpoint.scoping, who, which)


def visible_for(scoping: str, who: Principal, which: str) -> bool:
    """The same, for any surface's row: by how its object is scoped."""
    if scoping == GLOBAL:
        return True
    if which == MISSING:
        return False
    if scoping in (SITE, SITE_BODY):
        return who.all_sites or which == OWN  # every site account here belongs to the own site
    owner = who.username == UPLOADERS.get(which)
    if scoping == OWNER:
        return owner
    return owner or who.all_sites  # OWNER_OR_ALL


def expected(endpoint: Endpoint, who: Principal, which: str) -> frozenset[int]:
    if who.kind in ("anonymous", "rejected"):
        return frozenset({401})
    if who.kind == "session-no-csrf" and endpoint.method not in SAFE:
        return frozenset({403})  # SessionAuthentication's CSRF check, before anything else is looked at
    if (who.role is None and not who.superuser) or endpoint.scope not in who.scopes:
        return frozenset({403})
    if endpoint.permission and not who.has(endpoint.permission):
        return frozenset({403})  # the role, checked before the object is looked up
    if not visible(endpoint, who, which):
        return frozenset({400}) if endpoint.scoping == SITE_BODY else frozenset({endpoint.hidden})
    return endpoint.ok


def forbidden_strings(who: Principal, world: World) -> set[str]:
    """What this principal's answers must never contain."""
    if who.username is None or who.kind == "rejected":
        return {s for data in world.sites.values() for s in data.strings}
    hidden: set[str] = set()
    if not who.all_sites:
        hidden |= set(world[FOREIGN].strings)
    for data in world.sites.values():  # try-outs are their maker's alone, Curators' included
        if who.username != data.uploader:
            hidden |= {str(data.tryout.pk), str(data.tryout_to_delete.pk)}
    return hidden
