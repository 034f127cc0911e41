#!/bin/sh
# Worker container. "inference" (GPU nodes): one process per GPU, model loaded once; it also reads the
# "interactive" queue (try-outs), taking the two in turn so a try-out never waits behind a backlog.
# "default": the CPU queue plus the periodic sweeper (run exactly one with --beat).
# "training" (GPU nodes): retraining jobs, one at a time; the job's trainer uses every GPU the
# container sees (torchrun, one rank per GPU). Scale out with one such worker per node.
# The -Q lists come from oncoportal/celery_config.py (WORKERS), like every queue and time limit.
set -eu
queue="${1:-inference}"
case "$queue" in
  inference)
    queues=$(python -m oncoportal.celery_config queues gpu)
    exec celery -A oncoportal worker -Q "$queues" --concurrency "${WORKER_CONCURRENCY:-1}" \
        --prefetch-multiplier 1 --hostname "inference@%h" --loglevel INFO ;;
  default)
    queues=$(python -m oncoportal.celery_config queues cpu)
    exec celery -A oncoportal worker -Q "$queues" --concurrency "${WORKER_CONCURRENCY:-2}" \
        --beat --schedule /var/lib/oncoportal/celerybeat-schedule --hostname "default@%h" --loglevel INFO ;;
  training)
    queues=$(python -m oncoportal.celery_config queues training)
    exec celery -A oncoportal worker -Q "$queues" --concurrency 1 --prefetch-multiplier 1 \
        --hostname "training@%h" --loglevel INFO ;;
  *) echo "usage: entrypoint-worker.sh inference|default|training" >&2; exit 2 ;;
esac
