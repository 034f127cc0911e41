"""``manage.py api_token create|list|revoke``: API tokens from the command line (audited as cli).

``create`` prints the token value alone on stdout, so a script can capture it::

    TOKEN=$(manage.py api_token create --user pacs --name "PACS router" --scopes read,upload)

``demo`` (refused in production, like ``setup_demo``) keeps one token for the demo
``pacs`` login (read, upload) and one for ``reviewer`` (read, review), their values
in ``var/demo-api-tokens.env`` as ``export ONCO_TOKEN=…`` lines, for ``make run`` to
print and the README's examples to ``source``.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from api.models import ApiToken
from api.services.tokens import token_create, token_digest, token_revoke
from cases.models import AuditSource, User
from cases.services.audit import AuditContext
from oncoportal.exceptions import DomainError

DEMO_NAME = "demo"
# (variable in the env file, login, scopes): the README's examples use both.
DEMO_TOKENS = (("ONCO_TOKEN", "pacs", "read,upload"), ("ONCO_REVIEW_TOKEN", "reviewer", "read,review"))
DEMO_TOKEN_FILE = "demo-api-tokens.env"  # in ONCOPORTAL_VAR_DIR


def _when(value: Any) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "never"


class Command(BaseCommand):
    help = "Create, list and revoke API tokens (the value is printed once, at creation)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="create|list|revoke|demo")
        create = actions.add_parser("create", help="issue a token; prints its value alone on stdout")
        create.add_argument("--user", required=True, help="the account the token acts as")
        create.add_argument("--name", required=True, help="what uses it, e.g. 'PACS router'")
        create.add_argument("--scopes", required=True, help="comma-separated: read,upload,review,admin")
        create.add_argument(
            "--days", type=int, default=None, help="lifetime in days (default ONCOPORTAL_API_TOKEN_DAYS)"
        )
        create.add_argument(
            "--rate", type=int, default=None, help="requests a minute (default ONCOPORTAL_API_RATE)"
        )
        listing = actions.add_parser("list", help="tokens with their state and last use")
        listing.add_argument("--user", help="only this account's tokens")
        listing.add_argument("--all", action="store_true", help="also expired and revoked tokens")
        revoke = actions.add_parser("revoke", help="revoke a token by its prefix")
        revoke.add_argument("prefix", help="the 8 characters after onc_ (as `list` shows)")
        actions.add_parser(
            "demo",
            help=f"demo only: print the '{DEMO_NAME}' tokens of the pacs and reviewer logins, "
            f"made once and kept in the var dir's {DEMO_TOKEN_FILE}",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        audit = AuditContext.system(source=AuditSource.CLI)
        try:
            getattr(self, f"_{opts['action']}")(opts, audit)
        except DomainError as exc:
            raise CommandError(exc.message) from exc

    def _create(self, opts: dict[str, Any], audit: AuditContext) -> None:
        user = _user(opts["user"])
        days = opts["days"] if opts["days"] is not None else settings.API_TOKEN_DEFAULT_DAYS
        if days < 1:
            raise CommandError("--days must be at least 1")
        issued = token_create(
            user=user,
            name=opts["name"],
            scopes=opts["scopes"],
            expires_in=timedelta(days=days),
            rate_per_minute=opts["rate"],
            audit=audit,
        )
        token = issued.token
        self.stdout.write(issued.value)
        self.stderr.write(
            f"token {token.prefix} for {user.get_username()} ({', '.join(token.scopes)}), "
            f"expires {_when(token.expires_at)}: store it now, it is not shown again"
        )

    def _list(self, opts: dict[str, Any], audit: AuditContext) -> None:
        tokens = ApiToken.objects.select_related("user").order_by("-created_at", "-pk")
        if opts["user"]:
            tokens = tokens.filter(user=_user(opts["user"]))
        if not opts["all"]:
            tokens = tokens.filter(revoked_at=None, expires_at__gt=timezone.now())
        rows = [("PREFIX", "NAME", "USER", "SCOPES", "STATE", "EXPIRES", "LAST USED")]
        rows += [
            (
                t.prefix,
                t.name,
                t.user.get_username(),
                ",".join(t.scopes),
                t.state,
                _when(t.expires_at),
                _when(t.last_used_at),
            )
            for t in tokens
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write(
                "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            )

    def _revoke(self, opts: dict[str, Any], audit: AuditContext) -> None:
        prefix = opts["prefix"].removeprefix("onc_").split("_")[0]
        token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
        if token is None:
            raise CommandError(f"no token with prefix {prefix!r}; see `manage.py api_token list --all`")
        already = token.is_revoked
        token = token_revoke(token=token, audit=audit)
        state = "was already revoked" if already else "revoked"
        self.stdout.write(f"token {token.prefix} ({token.name}, {token.user.get_username()}) {state}")

    def _demo(self, opts: dict[str, Any], audit: AuditContext) -> None:
        if settings.PRODUCTION:
            raise CommandError("the demo tokens' values are kept in a file; refused in production")
        users = {name: User.objects.filter(username=name).first() for _, name, _ in DEMO_TOKENS}
        missing = [name for name, user in users.items() if user is None]
        if missing:
            raise CommandError(f"no {', '.join(map(repr, missing))} login; run `manage.py setup_demo` first")
        path = Path(settings.VAR_DIR) / DEMO_TOKEN_FILE
        kept = _read_env(path)
        lines = []
        for variable, username, scopes in DEMO_TOKENS:
            user = users[username]
            assert user is not None
            value = kept.get(variable, "")
            usable = ApiToken.objects.filter(
                user=user, name=DEMO_NAME, revoked_at=None, expires_at__gt=timezone.now()
            )
            if not (value and usable.filter(key_hash=token_digest(value)).exists()):
                # A usable demo token whose value was lost is of no use to anyone: replace it.
                for lost in usable:
                    token_revoke(token=lost, audit=audit)
                issued = token_create(user=user, name=DEMO_NAME, scopes=scopes, audit=audit)
                value = issued.value
                self.stderr.write(
                    f"demo token {issued.token.prefix} for {username} ({scopes}) kept in {path}"
                )
            lines.append(f"export {variable}={value}\n")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("".join(lines))
        path.chmod(0o600)  # the file may have existed with wider permissions
        self.stdout.write("".join(lines), ending="")


def _read_env(path: Path) -> dict[str, str]:
    """``export NAME=value`` lines of the demo tokens file (empty when there is none)."""
    if not path.is_file():
        return {}
    found = {}
    for line in path.read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        if value:
            found[name.strip()] = value.strip()
    return found


def _user(username: str) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"no user {username!r}")
    return user
