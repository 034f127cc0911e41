"""Compare a candidate model version with the task's active model on a snapshot's test split.

    manage.py evaluate_model --candidate brain_mri-retrained@s3-job7 [--snapshot brain_mri-v3] [--wait]

The ``inference`` queue's worker scores both; with --wait the command follows
the evaluation and prints the figures side by side (exit 1 if it failed).
Bad input exits non-zero with one line.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.models import AuditSource
from cases.services.audit import AuditContext
from curation.management.commands._snapshot_cli import resolve_snapshot
from curation.models import Split
from inference.management.commands._versions import get_version
from lifecycle.models import Evaluation, RunStatus
from lifecycle.services.evaluations import evaluation_request
from oncocore.evaluation.compare import comparison_rows, paired_verdict
from oncoportal.exceptions import DomainError

POLL_S = 1.0


class Command(BaseCommand):
    help = (
        "Compare a candidate model version with the active model on a snapshot split (queued on the worker)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--candidate", required=True, help="name@version of the candidate")
        parser.add_argument(
            "--snapshot",
            help="snapshot id or name (default: the candidate's training snapshot, else the newest)",
        )
        parser.add_argument("--split", choices=Split.values, default=Split.TEST)
        parser.add_argument(
            "--wait", action="store_true", help="follow it and print the figures; exit 1 if it fails"
        )
        parser.add_argument(
            "--timeout", type=float, default=3600.0, help="with --wait: give up after this many seconds"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        candidate = get_version(opts["candidate"])
        snapshot = resolve_snapshot(opts["snapshot"]) if opts["snapshot"] else None
        try:
            evaluation = evaluation_request(
                candidate=candidate,
                snapshot=snapshot,
                split=opts["split"],
                audit=AuditContext.system(source=AuditSource.CLI),
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        champion = " + ".join(m["version"] for m in evaluation.champion_members) or "no champion"
        self.stdout.write(
            f"evaluation {evaluation.pk} queued: {candidate} vs {champion} "
            f"on {evaluation.snapshot.name} ({evaluation.split})"
        )
        if not opts["wait"]:
            return
        deadline = time.monotonic() + opts["timeout"]
        while evaluation.status not in (RunStatus.DONE, RunStatus.FAILED):
            if time.monotonic() > deadline:
                raise CommandError(f"evaluation {evaluation.pk} still {evaluation.status}; gave up waiting")
            time.sleep(POLL_S)
            evaluation.refresh_from_db()
        if evaluation.status == RunStatus.FAILED:
            raise CommandError(f"evaluation {evaluation.pk} failed: {evaluation.error}")
        self.stdout.write(report(evaluation))


def _fmt(value: float | None, sign: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.3f}" if sign else f"{value:.3f}"


def report(evaluation: Evaluation) -> str:
    """The figures side by side as text, the paired test in words and the fairness notes."""
    results = evaluation.results
    rows = comparison_rows(results)
    width = max(len(r["label"]) for r in rows)
    lines = [
        f"evaluation {evaluation.pk}: {results['n']} images of {evaluation.snapshot.name} ({results['split']})",
        f"  candidate: {results['sides']['candidate']['label']}",
        f"  champion:  {results['sides'].get('champion', {}).get('label', 'none')}",
        "",
        f"{'metric':<{width}}  {'champion':>9}  {'candidate':>9}  {'delta':>7}",
    ]
    for r in rows:
        lines.append(
            f"{r['label']:<{width}}  {_fmt(r['champion']):>9}  {_fmt(r['candidate']):>9}  "
            f"{_fmt(r['delta'], sign=True):>7}" + ("  *" if r["better"] == "candidate" else "")
        )
    lines += ["", paired_verdict(results.get("paired"))]
    lines += [f"note: {note}" for note in results.get("notes", [])]
    return "\n".join(lines)
