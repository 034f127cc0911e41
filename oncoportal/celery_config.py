"""Celery queues, routes, time limits and worker queue lists: the one table.

Settings build the routes from it, the task decorators take their limits from
it, the sweepers derive "this run lost its worker" from it, and the worker
commands (scripts/run.sh, docker/entrypoint-worker.sh, the tests' worker)
ask it for their ``-Q`` list::

    python -m oncoportal.celery_config queues gpu     # interactive,inference
    python -m oncoportal.celery_config table          # the table in docs/celery.md

Changing a queue or a limit here changes all of them; docs/celery.md is
checked against :func:`markdown_table` by a test.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, TypedDict

from django.core.exceptions import ImproperlyConfigured

from oncoportal.env import env_int

DEFAULT = "default"
INFERENCE = "inference"
INTERACTIVE = "interactive"
TRAINING = "training"
BACKGROUND = "background"
#: Every queue the platform uses. "training" takes the retraining jobs only: GPU training
#: nodes read it, the web and inference workers never do. "background" takes model work
#: nobody waits on (drift references): the inference workers read it after "inference".
QUEUES = (DEFAULT, INTERACTIVE, INFERENCE, BACKGROUND, TRAINING)

RUN_PREDICTIONS = "inference.tasks.run_predictions"
SWEEP_STUCK_PREDICTIONS = "inference.tasks.sweep_stuck_predictions"
RUN_TRYOUT = "inference.tasks.run_tryout"
EXPIRE_TRYOUTS = "inference.tasks.expire_tryouts"
DELIVER_WEBHOOK = "api.tasks.deliver_webhook"
SWEEP_WEBHOOKS = "api.tasks.sweep_webhooks"
BUILD_AND_SEND_RESULTS = "results.tasks.build_and_send"
DELIVER_RESULTS = "results.tasks.deliver_results"
SWEEP_RESULTS = "results.tasks.sweep_results"
RUN_TRAINING_JOB = "retraining.tasks.run_training_job"
SWEEP_TRAINING_JOBS = "retraining.tasks.sweep_training_jobs"
RUN_EVALUATION = "lifecycle.tasks.run_evaluation"
RUN_SHADOW_PREDICTIONS = "lifecycle.tasks.run_shadow_predictions"
SWEEP_LIFECYCLE = "lifecycle.tasks.sweep_lifecycle"
BUILD_DRIFT_REFERENCE = "lifecycle.tasks.build_drift_reference"


class TaskLimits(TypedDict):
    """``@shared_task``'s time-limit keywords, typed so the decorator's overloads still match."""

    soft_time_limit: int
    time_limit: int


@dataclass(frozen=True)
class TaskSpec:
    """Where a task runs and how long it may take."""

    queue: str
    soft_time_limit: int  # seconds: SoftTimeLimitExceeded is raised in the task
    time_limit: int  # seconds: the pool kills the process
    why: str
    # Acknowledged after it ran (redelivered by the broker if the worker dies), so the
    # Redis visibility timeout must outlast it. A task acknowledged on receipt instead
    # keeps its state in a row that its sweeper re-sends (the training jobs).
    acks_late: bool = True

    def limits(self) -> TaskLimits:
        """The keyword arguments for ``@shared_task``."""
        return {"soft_time_limit": self.soft_time_limit, "time_limit": self.time_limit}


def _task(queue: str, soft: int, hard: int, why: str, *, name: str, acks_late: bool = True) -> TaskSpec:
    if queue not in QUEUES:
        raise ImproperlyConfigured(f"{name}: queue {queue!r} is not one of {', '.join(QUEUES)}")
    if not 0 < soft < hard:
        raise ImproperlyConfigured(
            f"{name}: the soft time limit ({soft} s) must be positive and below the hard one ({hard} s)"
        )
    return TaskSpec(queue, soft, hard, why, acks_late)


TASKS: dict[str, TaskSpec] = {
    # A case's images in batches; the limits are the two documented settings.
    RUN_PREDICTIONS: _task(
        INFERENCE,
        env_int("CELERY_TASK_SOFT_TIME_LIMIT", 600, minimum=1),
        env_int("CELERY_TASK_TIME_LIMIT", 900, minimum=1),
        "one case's images, batched (GPU)",
        name=f"{RUN_PREDICTIONS} (CELERY_TASK_SOFT_TIME_LIMIT, CELERY_TASK_TIME_LIMIT)",
    ),
    # Someone is watching a try-out's page: its own queue, which a GPU worker reads beside
    # "inference" (kombu takes the queues in turn), so it waits for the batch in progress only.
    RUN_TRYOUT: _task(INTERACTIVE, 120, 180, "one try-out image (GPU)", name=RUN_TRYOUT),
    # Cheap row updates and file deletes: the CPU worker's queue, not the GPU's.
    SWEEP_STUCK_PREDICTIONS: _task(
        DEFAULT, 60, 120, "periodic: re-send lost predictions", name=SWEEP_STUCK_PREDICTIONS
    ),
    EXPIRE_TRYOUTS: _task(
        DEFAULT, 60, 120, "periodic: re-send lost try-outs, delete expired ones", name=EXPIRE_TRYOUTS
    ),
    # One HTTP POST with a 10 s timeout (ONCOPORTAL_WEBHOOK_TIMEOUT): light, never on the GPU queues.
    DELIVER_WEBHOOK: _task(DEFAULT, 45, 60, "one webhook delivery attempt (HTTP POST)", name=DELIVER_WEBHOOK),
    SWEEP_WEBHOOKS: _task(
        DEFAULT,
        60,
        120,
        "periodic: re-send due webhook retries, disable failing subscriptions",
        name=SWEEP_WEBHOOKS,
    ),
    # Reads the case's stored files and renders the SR/SC objects: CPU work, a few seconds a case.
    BUILD_AND_SEND_RESULTS: _task(
        DEFAULT,
        240,
        300,
        "build a case's result objects (SR, SC), queue them to the destinations",
        name=BUILD_AND_SEND_RESULTS,
    ),
    # One association (or STOW-RS request) per case and destination; each DIMSE step waits
    # at most ONCOPORTAL_RESULTS_TIMEOUT (30 s).
    DELIVER_RESULTS: _task(
        DEFAULT,
        240,
        300,
        "send a case's results to one destination (C-STORE or STOW-RS)",
        name=DELIVER_RESULTS,
    ),
    SWEEP_RESULTS: _task(DEFAULT, 60, 120, "periodic: re-queue due result deliveries", name=SWEEP_RESULTS),
    # A retraining job: hours on a GPU node, one at a time per training worker. Acknowledged
    # on receipt (a Redis visibility timeout of a day would delay every other lost message):
    # the job row's heartbeat tells the sweeper when its worker died, and it sends it again.
    RUN_TRAINING_JOB: _task(
        TRAINING,
        env_int("ONCOPORTAL_TRAINING_SOFT_TIME_LIMIT", 24 * 3600, minimum=60),
        env_int("ONCOPORTAL_TRAINING_TIME_LIMIT", 24 * 3600 + 600, minimum=60),
        "one retraining job: the trainer as a subprocess (GPU, torchrun when several)",
        name=f"{RUN_TRAINING_JOB} (ONCOPORTAL_TRAINING_SOFT_TIME_LIMIT, ONCOPORTAL_TRAINING_TIME_LIMIT)",
        acks_late=False,
    ),
    SWEEP_TRAINING_JOBS: _task(
        DEFAULT,
        60,
        120,
        "periodic: re-send training jobs whose worker died (stale heartbeat) or whose message was lost",
        name=SWEEP_TRAINING_JOBS,
    ),
    # A candidate and the champion on one snapshot split (tens to a few thousand images, no maps):
    # model work, so the GPU worker's inference queue; within the predictions' limits.
    RUN_EVALUATION: _task(
        INFERENCE, 840, 900, "score a candidate and the champion on a snapshot split", name=RUN_EVALUATION
    ),
    # A shadow candidate on one case's images, after the clinical prediction is done.
    RUN_SHADOW_PREDICTIONS: _task(
        INFERENCE, 600, 900, "one case's images through a shadow candidate", name=RUN_SHADOW_PREDICTIONS
    ),
    SWEEP_LIFECYCLE: _task(
        DEFAULT, 60, 120, "periodic: re-send lost evaluations and shadow predictions", name=SWEEP_LIFECYCLE
    ),
    # A model's validation images (at most 600, no maps) scored once: model work nobody waits
    # on, so its own queue, read after "inference": `make run` queues one per active model at
    # start-up (a minute of CPU), and the first uploads must not wait behind them.
    BUILD_DRIFT_REFERENCE: _task(
        BACKGROUND,
        540,
        600,
        "score a model's validation images as its drift reference",
        name=BUILD_DRIFT_REFERENCE,
    ),
}

#: The queues each kind of worker consumes (``-Q``), in the order it takes them. On Redis
#: the order is a strict priority (``queue_order_strategy`` "priority" in settings): a
#: worker takes from "background" only when the queues before it are empty, so a
#: prediction waits at most for the background task in progress. kombu's filesystem
#: transport (the embedded default) only takes queues in turn, so `make run` gives
#: background work a worker of its own at a lower CPU priority ("run" and "background").
WORKERS: dict[str, tuple[str, ...]] = {
    "gpu": (INTERACTIVE, INFERENCE, BACKGROUND),  # one process per GPU, model loaded once
    "cpu": (DEFAULT,),  # the periodic tasks; run exactly one with --beat
    "all": (DEFAULT, INTERACTIVE, INFERENCE, BACKGROUND),  # the tests: one worker does all but training
    "run": (DEFAULT, INTERACTIVE, INFERENCE),  # `make run`'s main worker (with --beat)
    "background": (BACKGROUND,),  # `make run`'s second worker, under nice
    "training": (TRAINING,),  # GPU training nodes: one job at a time (--concurrency 1)
}

#: How often each sweeper runs (seconds). A sweep is a few indexed queries, so a shorter
#: interval only shortens how long lost work waits (the fault tests use 5 s).
SWEEP_INTERVAL_S = float(env_int("ONCOPORTAL_SWEEP_INTERVAL", 60, minimum=1))

#: Periodic tasks (celery beat), every this many seconds.
BEAT: dict[str, tuple[str, float]] = {
    # At most every 10 s: a dead worker's predictions are back in the queue within a minute (inference.claims).
    "sweep-stuck-predictions": (SWEEP_STUCK_PREDICTIONS, min(SWEEP_INTERVAL_S, 10.0)),
    "expire-tryouts": (EXPIRE_TRYOUTS, SWEEP_INTERVAL_S),
    "sweep-webhooks": (SWEEP_WEBHOOKS, SWEEP_INTERVAL_S),
    "sweep-results": (SWEEP_RESULTS, SWEEP_INTERVAL_S),
    "sweep-training-jobs": (SWEEP_TRAINING_JOBS, SWEEP_INTERVAL_S),
    "sweep-lifecycle": (SWEEP_LIFECYCLE, SWEEP_INTERVAL_S),
}

# A row RUNNING this long past its task's hard limit lost its worker: the pool
# kills at the hard limit, so only a dead worker leaves one running after it.
LOST_WORKER_GRACE_S = {RUN_PREDICTIONS: 60, RUN_TRYOUT: 30}


def limits(name: str) -> TaskLimits:
    """``soft_time_limit`` and ``time_limit`` for the task called ``name``."""
    return TASKS[name].limits()


def lost_after_s(name: str) -> int:
    """Seconds after which a run of ``name`` that is still RUNNING lost its worker."""
    return TASKS[name].time_limit + LOST_WORKER_GRACE_S.get(name, 60)


def routes() -> dict[str, dict[str, str]]:
    """``task_routes``: every task by its exact name (no patterns, so none can match nothing)."""
    return {name: {"queue": spec.queue} for name, spec in TASKS.items()}


def beat_schedule() -> dict[str, dict[str, Any]]:
    """``beat_schedule``; the queue is in the options too, so a message beat sends lands where routed."""
    return {
        entry: {"task": name, "schedule": every, "options": {"queue": TASKS[name].queue}}
        for entry, (name, every) in BEAT.items()
    }


def longest_time_limit() -> int:
    """The longest hard limit of a task the broker redelivers (acks_late): the visibility timeout's floor."""
    return max(spec.time_limit for spec in TASKS.values() if spec.acks_late)


def markdown_table() -> str:
    """The table docs/celery.md shows (a test keeps the two equal)."""
    lines = [
        "| task | queue | soft limit (s) | hard limit (s) | what |",
        "|---|---|---|---|---|",
    ]
    for name, spec in TASKS.items():
        lines.append(
            f"| `{name}` | `{spec.queue}` | {spec.soft_time_limit} | {spec.time_limit} | {spec.why} |"
        )
    lines += ["", "| worker | `-Q` |", "|---|---|"]
    lines += [f"| {kind} | `{','.join(queues)}` |" for kind, queues in WORKERS.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "queues" and argv[1] in WORKERS:
        print(",".join(WORKERS[argv[1]]))
        return 0
    if argv == ["table"]:
        print(markdown_table(), end="")
        return 0
    print(f"usage: python -m oncoportal.celery_config queues {'|'.join(WORKERS)} | table", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
