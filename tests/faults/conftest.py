"""Fault tests (issue 24): real processes stopped and restarted under load; ``-m faults`` selects them.

Each test reports its recovery time through :func:`report_recovery`; the lines are printed at
the end of the run (and with ``-s`` as they come).
"""

from __future__ import annotations

import pytest

# The worker (with beat) of a fault test: sweepers every 5 s, a queued prediction whose
# message was lost is re-sent after 30 s (the setting's minimum) instead of 10 minutes.
FAULT_WORKER_ENV = {"ONCOPORTAL_SWEEP_INTERVAL": "5", "ONCOPORTAL_REQUEUE_AFTER": "30"}

_REPORTS: list[str] = []


def report_recovery(what: str, line: str) -> None:
    text = f"{what}: {line}"
    _REPORTS.append(text)
    print(text)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _REPORTS:
        terminalreporter.section("fault recovery")
        for line in _REPORTS:
            terminalreporter.write_line(line)
