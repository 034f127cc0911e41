"""Celery tasks: thin wrappers; queues and time limits come from oncoportal.celery_config."""

from __future__ import annotations

from collections.abc import Sequence

from celery import shared_task

from lifecycle.services.drift import drift_reference_run
from lifecycle.services.evaluations import evaluation_run, evaluations_sweep
from lifecycle.services.shadow import shadow_predictions_run, shadow_sweep
from oncoportal import celery_config


@shared_task(acks_late=True, **celery_config.limits(celery_config.RUN_EVALUATION))
def run_evaluation(evaluation_id: int) -> str:
    """Score a candidate and the champion on the evaluation's snapshot split. Safe to deliver twice."""
    return evaluation_run(evaluation_id=evaluation_id)


@shared_task(acks_late=True, **celery_config.limits(celery_config.RUN_SHADOW_PREDICTIONS))
def run_shadow_predictions(shadow_prediction_ids: Sequence[int]) -> int:
    """Run queued shadow predictions (one case's images). Safe to deliver twice."""
    return shadow_predictions_run(shadow_prediction_ids=shadow_prediction_ids)


@shared_task(acks_late=True, **celery_config.limits(celery_config.SWEEP_LIFECYCLE))
def sweep_lifecycle() -> int:
    """Periodic: re-send evaluations and shadow predictions whose message or worker was lost."""
    return evaluations_sweep() + shadow_sweep()


@shared_task(acks_late=True, **celery_config.limits(celery_config.BUILD_DRIFT_REFERENCE))
def build_drift_reference(
    version_id: int, snapshot_id: int | None = None, actor_id: int | None = None
) -> int:
    """Score a model version's validation images as its drift reference. Safe to deliver twice."""
    return drift_reference_run(version_id=version_id, snapshot_id=snapshot_id, actor_id=actor_id)
