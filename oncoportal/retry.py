"""The retry rules every outgoing delivery shares: webhooks (api.delivery) and results to the PACS (results.delivery).

A delivery row is claimed with a conditional UPDATE that pushes its due time
past the task's hard limit; a failure schedules the next attempt after the
next wait of a schedule (settings: ``WEBHOOK_RETRY_SCHEDULE``,
``RESULTS_RETRY_SCHEDULE``); after the last wait it is given up. Short waits
ride in the broker as a countdown; longer ones wait for the periodic
sweeper, which also re-sends rows whose message was lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

__all__ = ["CLAIM_SLACK", "MAX_COUNTDOWN_S", "SWEEP_GRACE", "retry_wait"]

# A message may reach the worker a little before the due time it was sent for.
CLAIM_SLACK = timedelta(seconds=2)
# Retries further off than this wait for the sweeper rather than in the broker: a Redis
# message with a countdown past the visibility timeout would be handed out twice.
MAX_COUNTDOWN_S = 900
# The sweeper re-sends a delivery this long overdue (its message was lost, or the worker died).
SWEEP_GRACE = timedelta(seconds=60)


def retry_wait(attempts: int, schedule: Sequence[float]) -> float | None:
    """Seconds to wait after the ``attempts``-th failure, or None when that was the last attempt."""
    return float(schedule[attempts - 1]) if attempts <= len(schedule) else None
