from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.models import AuditSource
from cases.services.audit import AuditContext
from lifecycle.models import ModelChange
from lifecycle.selectors_promotion import change_newest
from lifecycle.services.promotion import model_rollback
from oncoportal.exceptions import DomainError


class Command(BaseCommand):
    help = "Roll a task back to the ensemble active before a change (default: undo the newest change)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--task", required=True, help="the task key, e.g. brain_mri")
        parser.add_argument("--change", type=int, help="the change id to undo (default: the newest)")
        parser.add_argument("--reason", default="", help="why, for the audit trail")

    def handle(self, *args: Any, **opts: Any) -> None:
        task = opts["task"]
        if opts["change"] is None:
            change = change_newest(task=task)
            if change is None:
                raise CommandError(f"{task} has no promotion or roll-back to undo")
        else:
            change = ModelChange.objects.filter(pk=opts["change"], task=task).first()
            if change is None:
                raise CommandError(f"no change {opts['change']} on {task}")
        try:
            done = model_rollback(
                change=change, reason=opts["reason"], audit=AuditContext.system(source=AuditSource.CLI)
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        members = ", ".join(f"{m['version']} ({m['weight']:g})" for m in done.after)
        self.stdout.write(f"{task} rolled back (change {done.pk}): {members}")
