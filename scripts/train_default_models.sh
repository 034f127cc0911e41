#!/usr/bin/env bash
# Train, evaluate and export the default model of every seed task.
#   scripts/train_default_models.sh [lite0|cpu|gpu]   (run dirs in var/training/, bundles in inference/bundles/)
# lite0 (the default, what ships): EfficientNet-Lite0 fine-tuned from its ImageNet weights, about
# an hour on a 2-core CPU; cpu: the earlier from-scratch ResNet-10s (the baseline row in
# docs/models.md); gpu: the from-scratch recipe sized for a GPU node.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DATA=${ONCOPORTAL_DATA_DIR:-../shared/data}
RECIPE=${1:-lite0}
VERSION=${MODEL_VERSION:-$(date -u +%Y.%m.%d)-$RECIPE}
OUT=var/training
mkdir -p "$OUT"

train() {  # task folder, card task, extra args...
    train_as "$2-$RECIPE" "$@"
    publish "$1" "$2" "$2-$RECIPE"
}

train_as() {  # run/bundle name, task folder, card task, extra args...
    local name=$1 folder=$2 task=$3; shift 3
    $PY -m oncocore.training.train --data-dir "$DATA/$folder" --task "$folder" \
        --output-dir "$OUT/$name" --export-bundle "inference/bundles/$name" \
        --model-name "$task" --model-version "$VERSION" --half --no-progress "$@" \
        $( [ -f "$OUT/$name/checkpoint.pt" ] && echo --resume "$OUT/$name/checkpoint.pt" )
}

publish() {  # the evaluation report, plots and saliency check go to docs/models/<task>/
    local folder=$1 task=$2 name=$3
    mkdir -p "docs/models/$task"
    cp "$OUT/$name"/report/*.png "$OUT/$name"/report/report.md "$OUT/$name"/report/report.json "docs/models/$task/"
    $PY -m oncocore.training.saliency_check --bundle "inference/bundles/$name" --data-dir "$DATA/$folder" \
        --task "$folder" --out "docs/models/$task/saliency.json" --grid "docs/models/$task/saliency_examples.png"
}

pretrain() {  # multi-task backbone on the training sides of all three data sets (resumes if cut short)
    local name=$1; shift
    $PY -m oncocore.training.pretrain --data-root "$DATA" --output-dir "$OUT/$name" --no-progress --resume "$@"
}

fit_suitability() {  # the input suitability check of each bundle, on its own training split
    $PY -m oncocore.training.suitability fit "$@" --data-root "$DATA"
}

case "$RECIPE" in
  lite0)
    # One seed each, 20 % of the groups held out (seed 0); the last epoch of a fixed one-cycle
    # schedule is kept (--select last), so the temperature is fitted on images nothing was chosen on.
    train brain_mri brain_mri --recipe lite0-brain --workers 2
    train lung_ct lung_ct --recipe lite0-lung-ct --workers 2
    train histo_lung histology --recipe lite0-histology --workers 2
    fit_suitability inference/bundles/brain_mri-lite0 inference/bundles/lung_ct-lite0 inference/bundles/histology-lite0
    ;;
  cpu)
    # About 18 minutes on 2 cores; never sees a validation image (train.py --init-from checks).
    pretrain pretrain-128 --arch resnet10 --input-size 128 --epochs 15 --batch-size 48 --workers 2
    train brain_mri brain_mri --arch resnet10 --input-size 160 --epochs 36 --batch-size 32 --workers 2
    # Unweighted: with 12 benign groups, class weights pushed unseen patients into "benign".
    # Pre-trained: best validation accuracy 0.823 against 0.756 from scratch (docs/models.md).
    train lung_ct lung_ct --arch resnet10 --input-size 128 --epochs 30 --batch-size 32 --workers 2 --imbalance none \
        --init-from "$OUT/pretrain-128/pretrained.pt"
    train histo_lung histology --arch resnet10 --input-size 192 --epochs 20 --batch-size 32 --workers 2
    # Second member of the shipped histology ensemble (inference/bundles/ensembles.json): another seed, the same
    # split. Ensemble 0.919 vs 0.905 for the better member (python -m oncocore.training.ensemble, docs/models.md).
    train_as histology-cpu-s1 histo_lung histology --arch resnet10 --input-size 192 --epochs 20 --batch-size 32 \
        --workers 2 --seed 1 --split-seed 0 --model-version "$VERSION-s1"
    $PY -m oncocore.training.ensemble inference/bundles/histology-cpu inference/bundles/histology-cpu-s1 \
        --data-root "$DATA" --out-dir "$OUT/ensemble-histology"
    ;;
  gpu)
    train brain_mri brain_mri --arch resnet10 --input-size 288 --epochs 300 --batch-size 128
    # Precise BN: at 224 px on CPU the running statistics swung validation from 0.26 to 0.65 (docs/models.md).
    train lung_ct lung_ct --arch resnet10 --input-size 256 --epochs 300 --batch-size 128 --imbalance none --precise-bn
    # MixUp/CutMix raised the CPU plateau from about 0.84 to 0.863 (docs/models.md); long runs need it most.
    train histo_lung histology --arch resnet10 --input-size 224 --epochs 120 --batch-size 128 --mixup-alpha 0.2 \
        --cutmix-alpha 1.0
    ;;
  *) echo "usage: $0 [lite0|cpu|gpu]" >&2; exit 2 ;;
esac
