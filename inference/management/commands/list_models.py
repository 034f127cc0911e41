from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from inference.models import ModelVersion


class Command(BaseCommand):
    help = "List registered model versions with their status."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--task", help="only this task")

    def handle(self, *args: Any, **opts: Any) -> None:
        qs = ModelVersion.objects.all()
        if opts["task"]:
            qs = qs.filter(task=opts["task"])
        rows = [("TASK", "MODEL", "ARCH", "STATUS", "WEIGHT", "NOTE")]
        for v in qs:
            note = "UNTRAINED" if v.untrained else ""
            rows.append((v.task, f"{v.name}@{v.version}", v.arch, v.status, f"{v.weight:g}", note))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
