"""Training pipeline: group split, metrics, scheduler, a tiny run with resume and export, EMA, MixUp/CutMix, precise BN."""

from __future__ import annotations

import itertools
import json
import math
import random

import numpy as np
import pytest
import torch

from oncocore.nets import build_model
from oncocore.predictor import Predictor
from oncocore.preprocessing import PreprocessSpec, normalize_uint8
from oncocore.registry import load_model
from oncocore.training import train as train_mod
from oncocore.training.augment import make_augment
from oncocore.training.checkpoint import load_checkpoint, make_scheduler
from oncocore.training.data import (
    GROUP_COLUMNS,
    BatchLoader,
    CachedImageDataset,
    group_split,
    limit_per_class,
    read_manifest,
)
from oncocore.training.metrics import (
    classification_metrics,
    expected_calibration_error,
    fit_temperature,
    roc_auc,
    softmax,
)


def _check_split(rows, group_col, train, val):
    assert len(train) + len(val) == len(rows)
    assert not {r[group_col] for r in train} & {r[group_col] for r in val}
    classes = {r["class"] for r in rows}
    assert {r["class"] for r in train} == classes == {r["class"] for r in val}


def test_group_split_synthetic():
    rng = random.Random(0)
    rows = [
        {"path": f"{c}/{g}_{i}.jpg", "class": c, "grp": f"{c}{g}"}
        for c in "abc"
        for g in range(8)
        for i in range(rng.randint(1, 6))
    ]
    train, val = group_split(rows, "grp", 0.25, seed=1)
    _check_split(rows, "grp", train, val)
    assert group_split(rows, "grp", 0.25, seed=1) == (train, val)  # deterministic
    with pytest.raises(ValueError, match="needs >= 2"):
        group_split([r for r in rows if r["grp"] in ("a0", "b0", "b1", "c0", "c1")], "grp", 0.25)


@pytest.mark.parametrize("task", sorted(GROUP_COLUMNS))
def test_group_split_real_manifests(task, require_data):
    rows = read_manifest(require_data(task))
    col = GROUP_COLUMNS[task]
    train, val = group_split(rows, col, 0.2, seed=0)
    _check_split(rows, col, train, val)
    assert 0.1 < len(val) / len(rows) < 0.3


def test_metrics_against_known_values():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    targets = np.array([0, 1, 1, 1])
    m = classification_metrics(probs, targets, ["neg", "pos"])
    assert m["accuracy"] == 0.75 and m["confusion_matrix"] == [[1, 0], [1, 2]]
    assert m["per_class"]["pos"]["recall"] == pytest.approx(2 / 3)
    assert m["per_class"]["pos"]["auc"] == pytest.approx(1.0)
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1], bool)) == pytest.approx(0.75)
    assert expected_calibration_error(np.array([[1.0, 0.0]] * 4), np.array([0, 0, 1, 1])) == pytest.approx(
        0.5
    )


def test_temperature_recovers_overconfidence():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, (4000, 3))
    targets = np.array([rng.choice(3, p=p) for p in softmax(true_logits)])
    t = fit_temperature(true_logits * 2.5, targets)  # model 2.5x overconfident
    assert t == pytest.approx(2.5, rel=0.1)


def test_cross_fitted_ece_scores_each_half_with_the_other_halfs_temperature():
    from oncocore.training.evaluate import build_report, cross_fitted_ece

    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, (2000, 3))
    targets = np.array([rng.choice(3, p=p) for p in softmax(true_logits)])
    over = true_logits * 2.5
    raw = expected_calibration_error(softmax(over), targets)
    crossed = cross_fitted_ece(over, targets)
    assert crossed is not None and crossed < raw / 3  # the temperature carries over between halves
    report = build_report(over, targets, ["a", "b", "c"])
    assert report["ece_cross_fitted"] == pytest.approx(crossed)
    assert report["calibrated"]["ece"] <= crossed + 0.02  # fitted on its own images: a little flattered
    assert cross_fitted_ece(over[:3], targets[:3]) is None
    assert "ece_cross_fitted" not in build_report(over, targets, ["a", "b", "c"], temperature=2.0)


def test_scheduler_warmup_then_cosine():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = make_scheduler(opt, total_steps=20, warmup_steps=4, min_lr_ratio=0.1)
    lrs = []
    for _ in range(20):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] < lrs[3] < lrs[4] == pytest.approx(1.0) and lrs[-1] < 0.2
    assert all(a >= b for a, b in itertools.pairwise(lrs[4:]))


@pytest.fixture(scope="module")
def tiny_rows():
    from tests.oncocore.conftest import _require_data

    rows = read_manifest(_require_data("brain_mri"))
    return limit_per_class(rows, 3, GROUP_COLUMNS["brain_mri"], seed=0)  # ~12 real images


def test_loss_falls_on_real_images(tiny_rows):
    torch.manual_seed(0)
    spec = PreprocessSpec.for_task("brain_mri", 32)
    classes = sorted({r["class"] for r in tiny_rows})
    ds = CachedImageDataset(tiny_rows, spec, classes, num_workers=2)
    assert ds.images.shape == (len(tiny_rows), 1, 32, 32) and ds.images.dtype == torch.uint8
    model = build_model("tinycnn", num_classes=len(classes), in_channels=1)
    opt = torch.optim.AdamW(model.parameters(), lr=0.02)
    crit = torch.nn.CrossEntropyLoss()

    loader = BatchLoader(ds, 16, shuffle=True)  # one batch: each epoch's loss is measured before its step
    sched = make_scheduler(opt, 100, 0)
    losses = []
    for epoch in range(8):
        stats = train_mod.train_one_epoch(
            model,
            loader,
            opt,
            sched,
            crit,
            spec=spec,
            device=torch.device("cpu"),
            augment=make_augment("none"),
            generator=torch.Generator(),
            epoch=epoch,
            progress=False,
        )
        losses.append(stats["train_loss"])
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.8 * losses[0], losses


def test_main_resume_and_export(tiny_rows, tmp_path, require_data):
    data_dir = require_data("brain_mri")
    out, bundle = tmp_path / "run", tmp_path / "bundle"
    base = [
        "--data-dir",
        str(data_dir),
        "--task",
        "brain_mri",
        "--arch",
        "tinycnn",
        "--input-size",
        "32",
        "--batch-size",
        "4",
        "--limit-per-class",
        "3",
        "--val-fraction",
        "0.34",
        "--output-dir",
        str(out),
        "--lr",
        "0.01",
        "--warmup-epochs",
        "0.5",
        "--no-progress",
        "--workers",
        "2",
    ]
    parser = train_mod.get_args_parser()
    first = train_mod.main(parser.parse_args([*base, "--epochs", "2"]))
    assert first["best_epoch"] in (0, 1)
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["epoch"] == 1 and set(ckpt) >= {
        "model",
        "optimizer",
        "scheduler",
        "epoch",
        "args",
        "classes",
        "preprocessing",
        "best_metric",
    }
    train_mod.main(
        parser.parse_args(
            [
                *base,
                "--epochs",
                "3",
                "--resume",
                str(out / "checkpoint.pt"),
                "--export-bundle",
                str(bundle),
                "--model-version",
                "t1",
            ]
        )
    )
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1, 2]
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 2
    _model, card = load_model(bundle)
    assert not card.untrained and card.version == "t1" and card.task == "brain_mri"
    assert card.temperature > 0 and "calibrated" in card.metrics and card.training_data["n_val"] > 0
    assert (out / "report" / "report.md").is_file() and (out / "report" / "reliability.png").is_file()
    (r,) = Predictor(bundle, device="cpu").predict_sources([tiny_rows[0]["abs_path"]])
    assert sum(r.probabilities.values()) == pytest.approx(1.0) and not r.untrained


def _tiny_run(data_dir, out, *extra: str) -> list[str]:
    """train.py arguments for a seconds-long brain MRI run (tinycnn, 32 px, 3 images a class)."""
    return [
        "--data-dir", str(data_dir), "--task", "brain_mri", "--arch", "tinycnn", "--input-size", "32",
        "--batch-size", "4", "--limit-per-class", "3", "--val-fraction", "0.34", "--output-dir", str(out),
        "--lr", "0.01", "--warmup-epochs", "0.5", "--no-progress", "--workers", "2", *extra,
    ]  # fmt: skip


def test_ema_weights_are_judged_saved_and_resumed(tmp_path, require_data):
    """--ema-decay: validation and best.pt use the average; the raw weights travel for --resume."""
    out = tmp_path / "run"
    base = _tiny_run(require_data("brain_mri"), out, "--ema-decay", "0.9")
    parser = train_mod.get_args_parser()
    train_mod.main(parser.parse_args([*base, "--epochs", "1"]))
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["ema_steps"] > 0 and set(ckpt["train_model"]) <= set(ckpt["model"])
    # The average differs from the last step's weights (it lags behind them).
    name = next(k for k, v in ckpt["train_model"].items() if v.is_floating_point() and v.ndim > 1)
    assert not torch.equal(ckpt["model"][name], ckpt["train_model"][name])

    train_mod.main(parser.parse_args([*base, "--epochs", "2", "--resume", str(out / "checkpoint.pt")]))
    resumed = load_checkpoint(out / "checkpoint.pt")
    assert (
        resumed["epoch"] == 1 and resumed["ema_steps"] > ckpt["ema_steps"]
    )  # the average went on, not restarted


def test_select_last_keeps_the_final_epoch_whatever_validation_says(tmp_path, require_data):
    """--select last: best.pt (and so the bundle) is the last epoch, and patience stops nothing."""
    out = tmp_path / "run"
    argv = _tiny_run(require_data("brain_mri"), out, "--epochs", "3", "--patience", "1", "--select", "last")
    train_mod.main(train_mod.get_args_parser().parse_args(argv))
    assert load_checkpoint(out / "best.pt")["epoch"] == 2
    assert len((out / "log.jsonl").read_text().splitlines()) == 3


def test_card_limitations_say_how_the_weights_came_about():
    from oncocore.training.checkpoint import weights_origin

    assert weights_origin({"n_train": 5}) == "Trained from scratch on 5 images"
    pre = {"datasets": {"lung_ct": {"n_train": 7}, "brain_mri": {"n_train": 5}}}
    text = weights_origin({"n_train": 7, "pretrained_backbone": pre})
    assert text.startswith("Fine-tuned on 7 images") and "brain_mri, lung_ct (12 images" in text


def test_mixup_and_cutmix_mix_images_and_labels_alike():
    from oncocore.training.augment import mix_batch

    x = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1).expand(4, 1, 8, 8).clone()
    y = torch.tensor([0, 1, 2, 0])
    same = mix_batch(x, y, torch.Generator().manual_seed(0))
    assert same[0] is x and same[3] == 1.0  # both alphas 0: untouched
    mixed, y_a, y_b, lam = mix_batch(x, y, torch.Generator().manual_seed(0), mixup_alpha=0.4)
    assert torch.equal(y_a, y) and torch.equal(y_b, y.roll(1, 0)) and 0.0 <= lam <= 1.0
    assert torch.allclose(mixed, x * lam + x.roll(1, 0) * (1 - lam))
    for seed in range(5):  # CutMix: lam is exactly the share of each image left unpasted
        cut, y_a, y_b, lam = mix_batch(x, y, torch.Generator().manual_seed(seed), cutmix_alpha=1.0)
        kept = (cut == x).float().mean(dim=(1, 2, 3))
        assert torch.allclose(kept[1:], torch.full((3,), lam))  # image 0's partner has its own value too
        assert set(cut.unique().tolist()) <= {0.0, 1.0, 2.0, 3.0}  # pasted, not blended
    again = mix_batch(x, y, torch.Generator().manual_seed(3), mixup_alpha=0.2, cutmix_alpha=1.0)
    twice = mix_batch(x, y, torch.Generator().manual_seed(3), mixup_alpha=0.2, cutmix_alpha=1.0)
    assert torch.equal(again[0], twice[0])  # seeded: the same generator state mixes the same way


@pytest.mark.parametrize("bad", ["-0.1", "nan", "inf", "lots"])
def test_mix_alphas_refuse_bad_values_in_one_line(bad, capsys):
    argv = ["--data-dir", "x", "--task", "lung_ct", "--cutmix-alpha", bad]
    with pytest.raises(SystemExit) as exc:
        train_mod.get_args_parser().parse_args(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--cutmix-alpha" in err and ("number" in err)


def test_training_with_strong_augment_and_cutmix_runs(tiny_rows, tmp_path, require_data):
    data_dir = require_data("brain_mri")
    args = train_mod.get_args_parser().parse_args(
        ["--data-dir", str(data_dir), "--task", "brain_mri", "--arch", "tinycnn", "--input-size", "32",
         "--batch-size", "4", "--limit-per-class", "3", "--val-fraction", "0.34", "--epochs", "2",
         "--augment", "strong", "--mixup-alpha", "0.2", "--cutmix-alpha", "1.0", "--precise-bn", "--output-dir",
         str(tmp_path / "run"), "--no-progress", "--workers", "2"]
    )  # fmt: skip
    summary = train_mod.main(args)
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert (
        ckpt["args"]["cutmix_alpha"] == 1.0
        and ckpt["args"]["augment"] == "strong"
        and ckpt["args"]["precise_bn"]
    )
    assert summary["best_epoch"] in (0, 1)


def test_precise_bn_sets_running_stats_to_the_clean_training_mean(tiny_rows):
    from oncocore.training.loops import recompute_bn_stats

    spec = PreprocessSpec.for_task("brain_mri", 32)
    classes = sorted({r["class"] for r in tiny_rows})
    ds = CachedImageDataset(tiny_rows, spec, classes, num_workers=2)
    model = build_model("tinycnn", num_classes=len(classes), in_channels=1)
    first_bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    first_bn.running_mean.fill_(5.0)  # stale statistics, as after fast-moving training steps
    model.eval()
    loader = BatchLoader(ds, 4)
    seen = recompute_bn_stats(model, loader, spec=spec, device=torch.device("cpu"))
    assert seen == len(tiny_rows) and not model.training  # mode restored
    assert first_bn.momentum == 0.1  # momentum restored for further training
    # The running mean is the average over batches of the first BatchNorm's per-batch input mean.
    captured = []
    hook = first_bn.register_forward_pre_hook(lambda m, inp: captured.append(inp[0].mean(dim=(0, 2, 3))))
    model.eval()
    with torch.no_grad():
        for x8, _ in loader:
            model(normalize_uint8(x8, spec))
    hook.remove()
    assert torch.allclose(first_bn.running_mean, torch.stack(captured).mean(0), atol=1e-5)
    assert recompute_bn_stats(torch.nn.Linear(2, 2), loader, spec=spec, device=torch.device("cpu")) == 0
