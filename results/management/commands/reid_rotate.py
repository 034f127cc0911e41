"""Re-encrypt the kept identities and destination secrets with a new ONCOPORTAL_REID_KEY (docs/reidentification.md)."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.models import AuditSource
from cases.services.audit import AuditContext
from results.identity import IdentityUnavailable
from results.services.identity import reid_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every kept study identity and destination secret with the current ONCOPORTAL_REID_KEY; "
        "the old key is read from the environment variable named by --old-key-env."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--old-key-env",
            required=True,
            metavar="NAME",
            help="the environment variable that holds the old key (never pass a key on the command line)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["old_key_env"]
        old_key = os.environ.get(name, "")
        if not old_key:
            raise CommandError(f"{name} is not set: export the old key in it")
        try:
            counts = reid_rotate(old_key=old_key, audit=AuditContext.system(source=AuditSource.CLI))
        except IdentityUnavailable as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"re-encrypted {counts['identities']} study identity(ies) and {counts['secrets']} destination secret(s)"
        )
