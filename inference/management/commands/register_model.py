from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.models import AuditSource
from cases.services.audit import AuditContext
from inference.services import model_version_activate, model_version_register
from oncoportal.exceptions import DomainError


class Command(BaseCommand):
    help = "Register a model bundle (folder with weights.safetensors and model.json)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("bundle", type=Path, help="bundle folder")
        parser.add_argument("--activate", action="store_true", help="use it for new cases of its task")
        parser.add_argument(
            "--exclusive",
            action="store_true",
            help="with --activate: retire the task's other active versions",
        )
        parser.add_argument("--weight", type=float, default=1.0, help="ensemble weight (default 1)")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["weight"] <= 0:
            raise CommandError("--weight must be positive")
        try:
            audit = AuditContext.system(source=AuditSource.CLI)
            version, created = model_version_register(
                bundle_dir=opts["bundle"], weight=opts["weight"], audit=audit
            )
            if opts["activate"]:
                model_version_activate(version=version, exclusive=opts["exclusive"], audit=audit)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        state = "registered" if created else "already registered"
        self.stdout.write(f"{version.label} ({version.task}): {state}, status {version.status}")
