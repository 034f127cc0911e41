"""Shadow (champion/challenger) runs from the command line: start, stop, status.

manage.py shadow start brain-candidate@1.1.0 --note "retrained on May data"
manage.py shadow stop 3                 # a run's id, or the candidate: brain-candidate@1.1.0
manage.py shadow status                 # every run with its counts
manage.py shadow status 3               # one run: both models against the final labels
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.models import AuditSource
from cases.services.audit import AuditContext
from inference.management.commands._versions import get_version
from lifecycle.models import ShadowDeployment
from lifecycle.selectors_shadow import shadow_comparison, shadow_list
from lifecycle.services.shadow import shadow_start, shadow_stop
from oncoportal.exceptions import DomainError


class Command(BaseCommand):
    help = "Start, stop or show shadow runs: a candidate scores new cases beside the active model, unseen by readers."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        start = sub.add_parser("start", help="run a registered, not active version in shadow on its task")
        start.add_argument("version", help="name@version (or name when it has one version)")
        start.add_argument("--note", default="")
        stop = sub.add_parser("stop", help="stop a run (idempotent)")
        stop.add_argument("run", help="the run's id, or its candidate's name@version (its running run)")
        status = sub.add_parser("status", help="list the runs, or one run's comparison")
        status.add_argument("run", nargs="?", type=int, help="a run's id")

    def handle(self, *args: Any, **opts: Any) -> None:
        audit = AuditContext.system(source=AuditSource.CLI)
        try:
            if opts["action"] == "start":
                d = shadow_start(candidate=get_version(opts["version"]), note=opts["note"], audit=audit)
                self.stdout.write(f"shadow run {d.pk}: {d.candidate.label} on new {d.task} cases")
            elif opts["action"] == "stop":
                d = shadow_stop(deployment=self._run(opts["run"]), audit=audit)
                self.stdout.write(f"shadow run {d.pk}: stopped {d.stopped_at:%Y-%m-%d %H:%M}")
            elif opts["run"] is None:
                self._list()
            else:
                self._status(self._run(str(opts["run"])))
        except DomainError as exc:
            raise CommandError(exc.message) from exc

    def _run(self, ref: str) -> ShadowDeployment:
        if ref.isdigit():
            found = ShadowDeployment.objects.filter(pk=int(ref)).first()
        else:
            version = get_version(ref)
            found = ShadowDeployment.objects.filter(candidate=version).order_by("-started_at", "-pk").first()
        if found is None:
            raise CommandError(f"no shadow run {ref!r} (see `manage.py shadow status`)")
        return found

    def _list(self) -> None:
        runs = list(shadow_list())
        if not runs:
            self.stdout.write("no shadow run")
        for d in runs:
            counted: Any = d  # shadow_list() annotates the counts
            state = "running" if d.running else f"stopped {d.stopped_at:%Y-%m-%d %H:%M}"
            self.stdout.write(
                f"{d.pk:>4}  {d.task:<12} {d.candidate.label:<40} {state:<24} "
                f"done {counted.n_done}  waiting {counted.n_waiting}  failed {counted.n_failed}"
            )

    def _status(self, deployment: ShadowDeployment) -> None:
        c = shadow_comparison(deployment=deployment)
        counts = c.counts
        self.stdout.write(
            f"shadow run {deployment.pk}: {deployment.candidate.label} on {deployment.task}, "
            + ("running" if deployment.running else "stopped")
        )
        self.stdout.write(
            f"results: {counts['done']} done, {counts['queued']} queued, {counts['failed']} failed; "
            f"{counts['compared']} compared, {counts['waiting_for_label']} waiting for a final label, "
            f"{counts['non_diagnostic']} non-diagnostic, {counts['excluded']} excluded, "
            f"{counts['no_champion_result']} without an active-model result"
        )
        f = c.figures
        if f is None:
            return
        for side in ("champion", "candidate"):
            s = f[side]
            f1 = "n/a" if s["macro_f1"] is None else f"{s['macro_f1']:.3f}"
            self.stdout.write(f"{side:<10} n {s['n']}  accuracy {s['accuracy']:.3f}  macro-F1 {f1}")
        a, m = f["agreement"], f["mcnemar"]
        self.stdout.write(f"agreement {a['same']}/{f['n']} ({a['share']:.3f})")
        self.stdout.write(f"McNemar b {m['b']} c {m['c']} p {m['p_value']:.4f}")
