#!/usr/bin/env bash
# Start the web server, a Celery worker (with the periodic sweeper), a training worker
# (retraining jobs) and the DICOM listener on the embedded defaults, print the URL, logins, AE title and port, and stop
# them all on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
VAR=${ONCOPORTAL_VAR_DIR:-var}  # the same folder settings.py uses
mkdir -p "$VAR/log"

pids=()
training_pid=""
cleanup() {
    trap - INT TERM EXIT
    echo
    echo "Stopping OncoPortal..."
    # SIGQUIT: a cold shutdown, not a warm one that waits hours for the job; the trainer
    # stops with its worker, and the job resumes from its checkpoint on the next start.
    if [[ -n "$training_pid" ]]; then kill -QUIT "$training_pid" 2>/dev/null || true; fi
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    echo "Stopped."
}
trap cleanup INT TERM EXIT

# One worker reads every queue but "background"; the lists come from oncoportal/celery_config.py.
QUEUES=$($PY -m oncoportal.celery_config queues run)
.venv/bin/celery -A oncoportal worker -Q "$QUEUES" --concurrency 1 --beat \
    --schedule "$VAR/celerybeat-schedule" --loglevel INFO >"$VAR/log/worker.log" 2>&1 &
pids+=($!)
# Background model work (the drift references queued at start-up, a minute or more of CPU):
# its own worker at a lower CPU priority, so uploads are scored first and at full speed (the
# filesystem broker cannot order one worker's queues by priority; docs/celery.md).
BACKGROUND_QUEUES=$($PY -m oncoportal.celery_config queues background)
nice -n 15 .venv/bin/celery -A oncoportal worker -Q "$BACKGROUND_QUEUES" --concurrency 1 \
    --hostname "background@%h" --loglevel INFO >"$VAR/log/background.log" 2>&1 &
pids+=($!)
# Retraining jobs have their own worker (the "training" queue; the one above never reads it):
# one job at a time, the trainer as its subprocess. README: Retraining.
TRAINING_QUEUES=$($PY -m oncoportal.celery_config queues training)
.venv/bin/celery -A oncoportal worker -Q "$TRAINING_QUEUES" --concurrency 1 --prefetch-multiplier 1 \
    --hostname "training@%h" --loglevel INFO >"$VAR/log/training.log" 2>&1 &
training_pid=$!
pids+=($!)
$PY manage.py runserver "$HOST:$PORT" --noreload >"$VAR/log/web.log" 2>&1 &
pids+=($!)
# C-STORE in for the demo site (README: DICOM (DIMSE)); any calling AE outside production.
DICOM_AET=${ONCOPORTAL_DICOM_AE_TITLE:-ONCOPORTAL}
DICOM_PORT=${ONCOPORTAL_DICOM_PORT:-11112}
ONCOPORTAL_DICOM_SITE=${ONCOPORTAL_DICOM_SITE:-demo-hospital} \
    $PY manage.py dicom_listener --host "$HOST" >"$VAR/log/dicom.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 60); do
    if $PY - "$HOST" "$PORT" <<'PYEOF' 2>/dev/null; then break; fi
import socket, sys
socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()
PYEOF
    sleep 0.5
done

# `manage.py api_token demo` (make run) keeps the demo API tokens here; absent otherwise.
API_LINE=""
if [[ -r "$VAR/demo-api-tokens.env" ]]; then
    API_LINE="  API docs:                 http://$HOST:$PORT/api/v1/docs/
  API tokens:               source $VAR/demo-api-tokens.env   (ONCO_TOKEN: pacs, read+upload;
                            ONCO_REVIEW_TOKEN: reviewer, read+review; README: REST API)
$(sed 's/^export /    /' "$VAR/demo-api-tokens.env")"
fi

cat <<TXT

  OncoPortal is running at  http://$HOST:$PORT/
  Admin (curators):         http://$HOST:$PORT/admin/
  Curation (curators):      http://$HOST:$PORT/curation/   (labelled images, snapshots, training jobs)
  DICOM C-STORE / C-ECHO:   AE title $DICOM_AET at $HOST port $DICOM_PORT
                            (try: TCP_NODELAY=1 storescu -aec $DICOM_AET +sd $HOST $DICOM_PORT <folder>)
$API_LINE

  Demo logins (username / password):
    radiologist / demo-radiologist   uploads and reads the demo site's cases
    reviewer    / demo-reviewer      reviews cases
    reviewer2   / demo-reviewer2     a second reader for double reading
    curator     / demo-curator       sees every site, adjudicates, admin
    pacs        / demo-integration   API only

  Logs: $VAR/log/web.log, $VAR/log/worker.log, $VAR/log/background.log, $VAR/log/training.log, $VAR/log/dicom.log.
  Press Ctrl-C to stop.

TXT
# Stop everything when any process dies, or on Ctrl-C.
wait -n "${pids[@]}" || true
