#!/usr/bin/env python3
"""Audit the installed Python packages for known vulnerabilities (pip-audit).

Exit status:

- 0: no known vulnerability that has a fix. Vulnerabilities with no fixed release yet are
  printed as a note (nothing to upgrade to; they are re-checked on every run).
- 1: at least one installed package has a known vulnerability with a fixed release: each one
  is printed as ``name version: ID -> fixed in X``.
- 2: the audit could not be done (the vulnerability service unreachable, an error, or a
  dependency it could not look up). One line says why. A network failure must never look
  like a clean audit: pip-audit itself exits 0 when every package is "not found".

Before auditing, a known-answer probe asks the same service about ``django==3.2``, a release
with published advisories: a service that reports nothing for it is not answering, whatever
pip-audit's exit status says (a package index mirror that serves no per-release JSON does
exactly that).

``--unavailable note`` turns status 2 into 0 with the same line, prefixed ``NOT AUDITED``:
for a machine whose network cannot reach any vulnerability service (see docs/security.md,
"Deployment checks"). Status 1 is never turned off.

Usage::

    .venv/bin/python scripts/audit_deps.py [--service pypi|osv] [--unavailable fail|note]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# Our own distribution is installed in the environment but is not a PyPI project to look up.
OWN_PROJECTS = frozenset({"oncoportal"})
# A release with published advisories that have fixes (Django 3.2.0, April 2021).
PROBE_REQUIREMENT = "django==3.2"
PIP_AUDIT_TIMEOUT_S = 900

EXIT_CLEAN, EXIT_VULNERABLE, EXIT_UNAVAILABLE = 0, 1, 2


class AuditUnavailable(Exception):
    """The vulnerability service gave no usable answer."""


@dataclass
class Findings:
    fixable: list[str] = field(default_factory=list)  # "name version: ID -> fixed in X"
    unfixed: list[str] = field(default_factory=list)  # "name version: ID (no fix yet)"
    skipped: list[str] = field(default_factory=list)  # pip-audit's skip reasons
    audited: int = 0


def classify(report: dict[str, object]) -> Findings:
    """Sort pip-audit's JSON report (``-f json``) into fixable, unfixed and skipped."""
    findings = Findings()
    dependencies = report.get("dependencies")
    if not isinstance(dependencies, list):
        raise AuditUnavailable("pip-audit's JSON report has no 'dependencies' list")
    for dep in dependencies:
        name, version = str(dep.get("name", "?")), str(dep.get("version", "?"))
        if dep.get("skip_reason"):
            if name.lower() not in OWN_PROJECTS:
                findings.skipped.append(str(dep["skip_reason"]))
            continue
        findings.audited += 1
        for vuln in dep.get("vulns") or []:
            fixes = [str(v) for v in vuln.get("fix_versions") or []]
            if fixes:
                findings.fixable.append(f"{name} {version}: {vuln.get('id')} -> fixed in {', '.join(fixes)}")
            else:
                findings.unfixed.append(f"{name} {version}: {vuln.get('id')} (no fix yet)")
    return findings


def run_pip_audit(args: list[str]) -> dict[str, object]:
    """Run pip-audit with a JSON report; any failure to get one raises AuditUnavailable."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip_audit", "-f", "json", "-o", str(out), "--progress-spinner", "off"]
        try:
            proc = subprocess.run(
                [*cmd, *args], capture_output=True, text=True, timeout=PIP_AUDIT_TIMEOUT_S, check=False
            )
        except FileNotFoundError:
            raise AuditUnavailable(f"cannot run {sys.executable}") from None
        except subprocess.TimeoutExpired:
            raise AuditUnavailable(f"pip-audit took more than {PIP_AUDIT_TIMEOUT_S} s") from None
        # pip-audit exits 1 when it found vulnerabilities (a report is written) and 1 on a
        # crash too (no report, a traceback): only the report tells them apart.
        if not out.exists():
            lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
            raise AuditUnavailable(f"pip-audit failed: {lines[-1] if lines else f'exit {proc.returncode}'}")
        try:
            report: dict[str, object] = json.loads(out.read_text())
        except ValueError as exc:
            raise AuditUnavailable(f"pip-audit wrote an unreadable report: {exc}") from None
        return report


def probe(service: str) -> None:
    """Ask the service about a release known to be vulnerable; it must say so."""
    with tempfile.TemporaryDirectory() as tmp:
        req = Path(tmp) / "probe.txt"
        req.write_text(PROBE_REQUIREMENT + "\n")
        report = run_pip_audit(["-s", service, "-r", str(req), "--disable-pip", "--no-deps"])
    found = classify(report)
    if not found.fixable:
        why = found.skipped[0] if found.skipped else "no advisory reported"
        raise AuditUnavailable(
            f"the '{service}' vulnerability service did not answer for {PROBE_REQUIREMENT}, "
            f"a release with known advisories ({why})"
        )


def audit(service: str) -> Findings:
    probe(service)
    findings = classify(run_pip_audit(["-s", service, "--skip-editable"]))
    if findings.skipped:
        raise AuditUnavailable(
            f"{len(findings.skipped)} installed package(s) could not be looked up, e.g. {findings.skipped[0]}"
        )
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--service", choices=("pypi", "osv"), default="pypi")
    parser.add_argument(
        "--unavailable",
        choices=("fail", "note"),
        default="fail",
        help="when no vulnerability service answers: fail (exit 2, default) or print NOT AUDITED and exit 0",
    )
    opts = parser.parse_args(argv)
    try:
        findings = audit(opts.service)
    except AuditUnavailable as exc:
        if opts.unavailable == "note":
            print(f"audit: NOT AUDITED: {exc}")
            return EXIT_CLEAN
        print(f"audit: cannot audit dependencies: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    for line in findings.unfixed:
        print(f"audit: note, no fixed release yet: {line}")
    if findings.fixable:
        for line in findings.fixable:
            print(f"audit: VULNERABLE: {line}", file=sys.stderr)
        print(f"audit: {len(findings.fixable)} known vulnerability(ies) with a fix: upgrade", file=sys.stderr)
        return EXIT_VULNERABLE
    print(f"audit: {findings.audited} packages, no known vulnerability with a fix ({opts.service})")
    return EXIT_CLEAN


if __name__ == "__main__":
    sys.exit(main())
