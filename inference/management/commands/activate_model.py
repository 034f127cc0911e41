from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from cases.models import AuditSource
from cases.services.audit import AuditContext
from inference.management.commands._versions import get_version
from inference.services import model_version_activate


class Command(BaseCommand):
    help = "Activate a model version (name@version) for new cases of its task."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("version", help="name@version")
        parser.add_argument(
            "--exclusive", action="store_true", help="retire the task's other active versions"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        version = get_version(opts["version"])
        model_version_activate(
            version=version, exclusive=opts["exclusive"], audit=AuditContext.system(source=AuditSource.CLI)
        )
        self.stdout.write(f"{version.label} is active for {version.task}")
