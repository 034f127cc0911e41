"""Multi-task pre-training, then fine-tuning from its backbone."""

from __future__ import annotations

import json

import pytest
import torch

from oncocore.nets import build_model
from oncocore.training import compare_runs
from oncocore.training import train as train_mod
from oncocore.training.checkpoint import load_checkpoint
from oncocore.training.data import (
    GROUP_COLUMNS,
    group_split,
    read_manifest,
)


def test_multitask_pretraining_then_fine_tuning(tmp_path, require_data):
    """pretrain.py sees only training sides; --init-from loads the backbone and refuses leaked splits."""
    from oncocore.training import pretrain

    root = require_data("brain_mri").parent
    require_data("histo_lung"), require_data("lung_ct")
    out = tmp_path / "pre"
    args = pretrain.get_args_parser().parse_args(
        ["--data-root", str(root), "--datasets", "brain_mri", "histo_lung", "--limit-per-class", "3",
         "--input-size", "32", "--epochs", "6", "--batch-size", "8", "--lr", "0.003", "--warmup-epochs", "0.5",
         "--workers", "2", "--output-dir", str(out), "--no-progress"]
    )  # fmt: skip
    summary = pretrain.main(args)
    ckpt = load_checkpoint(summary["checkpoint"])
    assert ckpt["kind"] == pretrain.PRETRAIN_KIND and ckpt["epoch"] == 5 and "fc.weight" not in ckpt["model"]
    assert set(ckpt["heads"]) == {
        "brain_mri.weight",
        "brain_mri.bias",
        "histo_lung.weight",
        "histo_lung.bias",
    }
    for task in ("brain_mri", "histo_lung"):
        rows = read_manifest(root / task)
        _train, val = group_split(rows, GROUP_COLUMNS[task], 0.2, seed=0)
        seen = set(ckpt["seen"][task])
        assert len(seen) == 3 * len({r["class"] for r in rows}) and not seen & {r["path"] for r in val}
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == list(range(6))
    assert log[-1]["brain_mri_train_loss"] + log[-1]["histo_lung_train_loss"] < (
        log[0]["brain_mri_train_loss"] + log[0]["histo_lung_train_loss"]
    )
    assert 0.0 <= log[-1]["histo_lung_val_accuracy"] <= 1.0

    # A 1-channel model gets the summed stem kernels (grey replicated x3) and every other backbone weight.
    model = build_model("resnet10", num_classes=3, in_channels=1)
    info = pretrain.init_from_pretrained(
        model, out / "pretrained.pt", arch="resnet10", task="lung_ct", val_rows=[]
    )
    assert info["epoch"] == 6 and set(info["datasets"]) == {"brain_mri", "histo_lung"}
    assert torch.allclose(model.conv1.weight, ckpt["model"]["conv1.weight"].sum(1, keepdim=True))
    assert torch.equal(model.layer4[0].conv1.weight, ckpt["model"]["layer4.0.conv1.weight"])
    with pytest.raises(ValueError, match="were pre-trained on"):
        pretrain.init_from_pretrained(
            model, out / "pretrained.pt", arch="resnet10", task="brain_mri",
            val_rows=[{"path": ckpt["seen"]["brain_mri"][0]}],
        )  # fmt: skip
    with pytest.raises(ValueError, match="backbone is resnet10"):
        pretrain.init_from_pretrained(
            model, out / "pretrained.pt", arch="resnet18", task="lung_ct", val_rows=[]
        )

    run = tmp_path / "fine"
    train_mod.main(
        train_mod.get_args_parser().parse_args(
            ["--data-dir", str(root / "lung_ct"), "--task", "lung_ct", "--arch", "resnet10", "--input-size", "32",
             "--batch-size", "4", "--limit-per-class", "3", "--epochs", "1", "--output-dir", str(run),
             "--init-from", str(out / "pretrained.pt"), "--no-progress", "--workers", "2"]
        )
    )  # fmt: skip
    assert load_checkpoint(run / "checkpoint.pt")["pretrained"]["file"] == "pretrained.pt"
    assert (out / "curves.png").stat().st_size > 0

    table = compare_runs.main([f"pretrained={run}", "--plot", str(tmp_path / "cmp.png")])
    assert table.splitlines()[2].startswith("| pretrained | 1 | 0 |") and (tmp_path / "cmp.png").is_file()
    with pytest.raises(FileNotFoundError):
        compare_runs.main([f"missing={tmp_path / 'nope'}"])
