#!/usr/bin/env bash
# Train one default model ON the GPU machine (device tool), from .pack/ (see scripts/gpu_pack.py
# and docs/models.md, "Training on the GPU machine"). No Django, no venv: the device's python3.
#   bash scripts/gpu_train.sh <brain_mri|lung_ct|histo_lung> [minutes]
# minutes (default 10) is the whole command's wall-clock limit; training stops cleanly about
# GPU_TRAIN_RESERVE_MIN (2) minutes before it, so the next call resumes from .pack/ckpt/<folder>/.
# Writes to $OUT: checkpoint.pt and best.pt (shrunk, <= 16 MiB), log.jsonl, train.log and, once
# training is finished, weights*.safetensors + model.json (the bundle) and report.tar.
# GPU_TRAIN_SMOKE=1: tiny CPU dry run (2 epochs, 2 steps, 64 px, few images) in var/gpu/smoke/.
set -euo pipefail
cd "$(dirname "$0")/.."
TASK=${1:?usage: $0 <brain_mri|lung_ct|histo_lung> [minutes]}
MINUTES=${2:-10}
PY=${PYTHON:-python3}
SMOKE=${GPU_TRAIN_SMOKE:-0}
export PYTHONUNBUFFERED=1

# The gpu recipe of scripts/train_default_models.sh (keep the two in sync).
case "$TASK" in
  brain_mri) FOLDER=brain_mri CARD=brain_mri
    RECIPE=(--arch resnet10 --input-size 288 --epochs 300 --batch-size 128) ;;
  lung_ct) FOLDER=lung_ct CARD=lung_ct
    RECIPE=(--arch resnet10 --input-size 256 --epochs 300 --batch-size 128 --imbalance none) ;;
  histo_lung|histology) FOLDER=histo_lung CARD=histology
    RECIPE=(--arch resnet10 --input-size 224 --epochs 120 --batch-size 128) ;;
  *) echo "usage: $0 <brain_mri|lung_ct|histo_lung> [minutes]" >&2; exit 2 ;;
esac
DATA=.pack/$FOLDER
if [ "$SMOKE" = 1 ]; then
  RECIPE+=(--epochs 2 --input-size 64 --batch-size 16 --max-steps-per-epoch 2 --limit-per-class 30)
  CKPT_IN=${GPU_TRAIN_CKPT_DIR:-var/gpu/smoke/ckpt-$FOLDER}
  RUN=var/gpu/smoke/run-$CARD BUNDLE=var/gpu/smoke/bundle-$CARD OUT=${OUT:-var/gpu/smoke/out}
  RESERVE=${GPU_TRAIN_RESERVE_MIN:-0}
else
  CKPT_IN=${GPU_TRAIN_CKPT_DIR:-.pack/ckpt/$FOLDER}
  RUN=var/gpu/$CARD-gpu BUNDLE=var/gpu/bundles/$CARD-gpu OUT=${OUT:-var/gpu/out}
  RESERVE=${GPU_TRAIN_RESERVE_MIN:-2}
fi
[ -f "$DATA/MANIFEST.tsv" ] || { echo "gpu_train: $DATA/MANIFEST.tsv missing: run scripts/gpu_pack.py $FOLDER here and carry $DATA" >&2; exit 2; }
BUDGET=$(awk -v m="$MINUTES" -v r="$RESERVE" 'BEGIN { b = m - r; if (b <= 0) exit 1; print b }') \
  || { echo "gpu_train: $MINUTES minutes leave no training time after a $RESERVE-minute reserve" >&2; exit 2; }
mkdir -p "$OUT" "$RUN"
rm -f "$OUT"/{checkpoint.pt,best.pt,log.jsonl,model.json,report.tar} "$OUT"/weights*.safetensors

# Carried wheels, only if a package is missing here (the device image has them all so far).
NEEDS="import torch, torchvision, numpy, PIL, safetensors, tqdm, matplotlib"
if ! "$PY" -c "$NEEDS" 2>/dev/null; then
  ls .pack/wheels/*.whl >/dev/null 2>&1 || { "$PY" -c "$NEEDS"; exit 1; }
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --find-links .pack/wheels \
    --target /tmp/gpu-site .pack/wheels/*.whl
  export PYTHONPATH=/tmp/gpu-site${PYTHONPATH:+:$PYTHONPATH}
  "$PY" -c "$NEEDS"
fi
"$PY" -c "import torch; print('gpu_train: torch', torch.__version__, 'cuda', torch.cuda.is_available() and torch.cuda.get_device_name(0))"

status() { eval "$("$PY" scripts/gpu_checkpoint.py status "$1" --shell)"; }
# Resume: a full-precision checkpoint left on a still-warm machine wins over the carried shrunk one.
if [ -f "$CKPT_IN/checkpoint.pt" ]; then
  status "$CKPT_IN/checkpoint.pt"; CARRIED=$CK_EPOCH
  HERE=-1
  if [ -f "$RUN/checkpoint.pt" ]; then status "$RUN/checkpoint.pt"; HERE=$CK_EPOCH; fi
  if [ "$HERE" -lt "$CARRIED" ]; then
    rm -rf "$RUN" && mkdir -p "$RUN"
    cp "$CKPT_IN/checkpoint.pt" "$RUN/"
    for f in log.jsonl best.pt; do if [ -f "$CKPT_IN/$f" ]; then cp "$CKPT_IN/$f" "$RUN/"; fi; done
    echo "gpu_train: resuming from $CKPT_IN/checkpoint.pt (epoch $CARRIED)"
  else
    echo "gpu_train: resuming from $RUN/checkpoint.pt left on this machine (epoch $HERE)"
  fi
elif [ -f "$RUN/checkpoint.pt" ] && [ "$SMOKE" != 1 ]; then
  echo "gpu_train: resuming from $RUN/checkpoint.pt left on this machine"
else
  rm -rf "$RUN" && mkdir -p "$RUN"
fi
RESUME=()
if [ -f "$RUN/checkpoint.pt" ]; then RESUME=(--resume "$RUN/checkpoint.pt"); fi

VERSION=${MODEL_VERSION:-$(date -u +%Y.%m.%d)-gpu}
ARGS=(--data-dir "$DATA" --task "$FOLDER" --output-dir "$RUN" --model-name "$CARD" --model-version "$VERSION"
      --half --no-progress --workers "${GPU_TRAIN_WORKERS:-12}" "${RECIPE[@]}")
touch "$RUN/.call-start"
echo "gpu_train: $CARD, training budget $BUDGET min"
set -o pipefail
"$PY" -m oncocore.training.train "${ARGS[@]}" --time-budget-minutes "$BUDGET" "${RESUME[@]}" 2>&1 | tee "$OUT/train.log"

status "$RUN/checkpoint.pt"
"$PY" scripts/gpu_checkpoint.py shrink "$RUN/checkpoint.pt" "$OUT/checkpoint.pt"
# best.pt goes back only when this call improved it (it is then newer than the call's start).
if [ -f "$RUN/best.pt" ] && [ "$RUN/best.pt" -nt "$RUN/.call-start" ]; then
  "$PY" scripts/gpu_checkpoint.py shrink --best "$RUN/best.pt" "$OUT/best.pt"
fi
cp "$RUN/log.jsonl" "$OUT/"
tail -n 2 "$RUN/log.jsonl" | cut -c1-300
if [ "$CK_FINISHED" != 1 ]; then
  echo "gpu_train: time budget reached after epoch $CK_EPOCH (best $CK_BEST_EPOCH, macro-F1 $CK_BEST_METRIC): copy \$OUT's checkpoint.pt and log.jsonl to $CKPT_IN/ and call again"
elif [ -f "$RUN/best.pt" ]; then
  # Finished: export from best.pt (the loop does nothing on a finished checkpoint).
  "$PY" -m oncocore.training.train "${ARGS[@]}" --resume "$RUN/checkpoint.pt" --export-bundle "$BUNDLE" 2>&1 | tee -a "$OUT/train.log"
  cp "$BUNDLE"/weights*.safetensors "$BUNDLE/model.json" "$OUT/"  # one file, or shards of <= 15 MiB
  tar -cf "$OUT/report.tar" -C "$RUN/report" .
  echo "gpu_train: finished (best epoch $CK_BEST_EPOCH, macro-F1 $CK_BEST_METRIC): bundle in \$OUT (weights*.safetensors, model.json, report.tar)"
else
  echo "gpu_train: finished; best epoch $CK_BEST_EPOCH came from an earlier call, whose best.pt is not here: export locally (docs/models.md)"
fi
ls -l "$OUT"
