"""Try the routing rules on DICOM files: which task each would get, and the rule that decides (docs/routing.md)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pydicom
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.routing import routing_rules
from oncocore.imaging import routing_header_of
from oncocore.routing import route


class Command(BaseCommand):
    help = (
        "Route DICOM files by the stored rules without ingesting them: prints each file's task and "
        "the rule that decided (or that none did). Reads headers only; stores nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, help="DICOM files or folders (read recursively)")
        parser.add_argument("--json", action="store_true", help="one JSON object per line")

    def handle(self, *args: Any, **opts: Any) -> None:
        files = [f for path in opts["paths"] for f in _files(path)]
        if not files:
            raise CommandError("no files found under " + ", ".join(str(p) for p in opts["paths"]))
        rules = routing_rules()
        tally: Counter[str] = Counter()
        for path in files:
            line: dict[str, str | None]
            try:
                header = routing_header_of(pydicom.dcmread(path, stop_before_pixels=True))
            except Exception as exc:  # not DICOM, or a header pydicom cannot read: say so, go on
                line = {"file": str(path), "task": None, "rule": None, "error": type(exc).__name__}
                decided = f"not read: {type(exc).__name__}"
            else:
                routed = route(rules, header)
                rule = routed.rule
                name = (rule.name or rule.describe()) if rule is not None else None
                line = {"file": str(path), "task": routed.task, "rule": name}
                decided = name or "no rule matched"
                tally[routed.task] += 1
            if opts["json"]:
                self.stdout.write(json.dumps(line))
            else:
                self.stdout.write(f"{line['task'] or '-':<12} {decided:<60} {path}")
        if not opts["json"]:
            self.stdout.write(
                ", ".join(f"{task}: {n}" for task, n in sorted(tally.items())) or "nothing routed"
            )


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    if path.is_file():
        return [path]
    raise CommandError(f"{path}: no such file or folder")
