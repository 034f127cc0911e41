"""Who calls: the principals, and the constants the matrix's rules share."""

from __future__ import annotations

from dataclasses import dataclass

from api.models import Scope
from cases.models import Role
from cases.permissions import ROLE_PERMISSIONS

ALL_SCOPES = ",".join(Scope.values)
SAFE = ("GET", "HEAD", "OPTIONS")
CSRF_SECRET = "m" * 32  # a CSRF cookie value; sent back unmasked in X-CSRFToken
ERROR_KEYS = {"code", "message", "errors"}
OWN, FOREIGN = "own", "foreign"
# The third column: an object that does not exist. A foreign object must be refused exactly as it is.
MISSING = "missing"
MISSING_PK = 2**31 - 1
MISSING_UUID = "00000000-0000-4000-8000-00000000dead"
MISSING_UID = "1.2.826.0.1.3680043.10.1234.404"
UPLOADERS = {OWN: "rad.uh", FOREIGN: "rad.cc"}  # who uploaded each site's batch and made its try-outs

# How an endpoint's object is scoped.
SITE = "site"  # the object's site: another site's is 404 unless the account sees all sites
SITE_BODY = "site-body"  # a collection call that names a site in its body: another site's is 400
OWNER = "owner"  # the account that made it, and no one else (try-outs)
OWNER_OR_ALL = "owner-or-all"  # the account that made it, or one that sees all sites (upload reports)
GLOBAL = "global"  # no site: the same for every account (models, lists, me, creating things)


@dataclass(frozen=True)
class Principal:
    name: str
    kind: str  # anonymous | rejected | token | session | session-no-csrf
    username: str | None = None
    role: str | None = None
    scopes: frozenset[str] = frozenset(Scope.values)
    superuser: bool = False

    @property
    def permissions(self) -> set[str]:
        return set(ROLE_PERMISSIONS.get(self.role, [])) if self.role else set()

    def has(self, permission: str) -> bool:
        return self.superuser or permission in self.permissions

    @property
    def all_sites(self) -> bool:
        return self.has("cases.view_all_sites")


PRINCIPALS = [
    Principal("anonymous", "anonymous"),
    Principal("revoked-token", "rejected", "pacs.uh", Role.INTEGRATION),
    Principal("expired-token", "rejected", "pacs.uh", Role.INTEGRATION),
    Principal("no-role", "token", "nobody.uh", None),
    Principal("radiologist", "token", "rad.uh", Role.RADIOLOGIST),
    Principal("reviewer", "token", "rev.uh", Role.REVIEWER),
    Principal("curator", "token", "cur.all", Role.CURATOR),
    Principal("curator-read", "token", "cur.all", Role.CURATOR, frozenset({Scope.READ})),
    Principal("superuser", "token", "admin.all", None, superuser=True),  # no role: every permission
    *[
        Principal(f"integration-{scope}", "token", "pacs.uh", Role.INTEGRATION, frozenset({scope}))
        for scope in Scope.values
    ],
    Principal("session", "session", "rad.uh", Role.RADIOLOGIST),
    Principal("session-no-csrf", "session-no-csrf", "rad.uh", Role.RADIOLOGIST),
]
