from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from cases.models import AuditSource
from cases.services.audit import AuditContext
from inference.management.commands._versions import get_version
from inference.services import model_version_retire


class Command(BaseCommand):
    help = "Retire a model version: new cases stop using it; stored predictions stay."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("version", help="name@version")

    def handle(self, *args: Any, **opts: Any) -> None:
        version = get_version(opts["version"])
        model_version_retire(version=version, audit=AuditContext.system(source=AuditSource.CLI))
        self.stdout.write(f"{version.label} retired")
