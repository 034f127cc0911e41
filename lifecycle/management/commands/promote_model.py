from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.models import AuditSource
from cases.services.audit import AuditContext
from inference.management.commands._versions import get_version
from lifecycle.models import Evaluation
from lifecycle.services.promotion import model_promote
from oncoportal.exceptions import DomainError


class Command(BaseCommand):
    help = (
        "Promote a candidate (name@version) through the gate: it becomes its task's only active version "
        "if it is not worse than the champion beyond the margins (docs/promotion.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("version", help="name@version")
        parser.add_argument("--reason", default="", help="why, for the audit trail")
        parser.add_argument(
            "--evaluation", type=int, help="the evaluation id the gate reads (default: the newest fair one)"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        version = get_version(opts["version"])
        evaluation = None
        if opts["evaluation"] is not None:
            evaluation = Evaluation.objects.filter(pk=opts["evaluation"]).first()
            if evaluation is None:
                raise CommandError(f"no evaluation {opts['evaluation']}")
        try:
            change = model_promote(
                candidate=version,
                evaluation=evaluation,
                reason=opts["reason"],
                audit=AuditContext.system(source=AuditSource.CLI),
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"{version.label} promoted on {version.task} (change {change.pk}): {change.gate['summary']}"
        )
