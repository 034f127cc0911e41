"""Who holds a claimed prediction, and whether it is still alive.

A run that claims predictions records its worker (``host:pid``) on them and
beats ``heartbeat_at`` every :data:`HEARTBEAT_S` seconds from a thread, so
the sweeper can tell a dead worker in seconds instead of waiting out the task's
hard time limit (15 minutes): a RUNNING row whose heartbeat is older than
``settings.PREDICTION_HEARTBEAT_STALE_S``, or whose worker's pid is gone on the
sweeper's own host, lost its worker.

The claim count (``attempts``) is the run's token: a run writes its result only
while the row is still RUNNING under the count it claimed, so a worker that was
only slow, and whose rows were claimed again, writes nothing over them.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from django.db import connections, transaction
from django.utils import timezone

from inference.models import Prediction

logger = logging.getLogger(__name__)

#: Seconds between two beats of a running batch.
HEARTBEAT_S = 5.0


def worker_identity() -> str:
    """``host:pid`` of this process, as recorded on the rows it claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_gone(identity: str) -> bool:
    """True when ``identity`` names a process of this host that no longer exists.

    Another host's process cannot be checked from here (False: its heartbeat decides).
    """
    host, _, pid = identity.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, as another user's process
        return False
    return False


def beat(*, prediction_ids: Sequence[int], worker: str) -> int:
    """Mark these rows, while RUNNING under ``worker``, alive now; returns how many were."""
    return Prediction.objects.filter(
        pk__in=list(prediction_ids), status=Prediction.Status.RUNNING, worker=worker
    ).update(heartbeat_at=timezone.now())


@contextmanager
def heartbeat(*, prediction_ids: Sequence[int], worker: str, every: float = HEARTBEAT_S) -> Iterator[None]:
    """Beat the rows from a thread while the block runs (model loading and long batches included).

    The thread has its own database connection, which sees committed rows only:
    inside a caller's transaction (a test's) it would wait on that
    transaction's locks, so there no thread runs and the claim's beat is the only one.
    """
    if transaction.get_connection().in_atomic_block:
        yield
        return
    stop = threading.Event()

    def loop() -> None:
        try:
            while not stop.wait(every):
                try:
                    beat(prediction_ids=prediction_ids, worker=worker)
                except Exception:  # a missed beat; the next may get through
                    logger.warning("heartbeat of %d prediction(s) failed", len(prediction_ids), exc_info=True)
        finally:
            connections.close_all()  # this thread's connections only

    thread = threading.Thread(target=loop, name="prediction-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=every)
