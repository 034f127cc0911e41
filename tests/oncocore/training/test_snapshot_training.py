"""The trainer on exported snapshot folders: split column, test metrics, fine-tuning, recipes, progress, SIGTERM."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from oncocore.datasets.manifest import read_manifest_csv
from oncocore.registry import load_model, make_random_bundle
from oncocore.training import progress as progress_mod
from oncocore.training import train as train_mod
from oncocore.training.args import parse_args
from oncocore.training.checkpoint import load_checkpoint
from oncocore.training.recipes import RECIPES, recipes
from oncocore.training.sources import load_run_data

from ..conftest import REPO
from ..helpers import BRAIN_CLASSES
from .snapshot_folder import PER_SPLIT, make_snapshot


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory) -> Path:
    from ..conftest import _require_data

    return make_snapshot(_require_data("brain_mri"), tmp_path_factory.mktemp("snap") / "brain_mri-v1")


def _argv(snapshot: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--data-dir",
        str(snapshot),
        "--recipe",
        "smoke",
        "--output-dir",
        str(out),
        "--no-progress",
        *extra,
    ]


def test_snapshot_split_column_is_honoured(snapshot):
    data = load_run_data(parse_args(_argv(snapshot, Path("unused"))), 0)
    listed = {
        s: {r.path for r in read_manifest_csv(snapshot / "manifest.csv") if r.split == s} for s in PER_SPLIT
    }
    assert {r["path"] for r in data.train} == listed["train"]
    assert {r["path"] for r in data.val} == listed["val"]
    assert {r["path"] for r in data.test} == listed["test"]
    assert data.classes == BRAIN_CLASSES and data.card_task == "brain_mri" and data.augment_family == "mr"
    with pytest.raises(ValueError, match="of task brain_mri"):
        load_run_data(parse_args([*_argv(snapshot, Path("unused")), "--task", "lung_ct"]), 0)


def test_snapshot_run_reports_test_metrics_and_records_the_snapshot(snapshot, tmp_path):
    bundle = tmp_path / "bundle"
    summary = train_mod.main(parse_args(_argv(snapshot, tmp_path / "run", "--export-bundle", str(bundle))))
    n_test = PER_SPLIT["test"] * len(BRAIN_CLASSES)
    assert summary["test"]["n"] == n_test
    _model, card = load_model(bundle)
    assert card.arch == "tinycnn_gn" and card.preprocessing.input_size == 32
    assert card.metrics["test"]["calibrated"]["n"] == n_test
    assert card.metrics["calibrated"]["n"] == PER_SPLIT["val"] * len(BRAIN_CLASSES)
    td = card.training_data
    snap_card = json.loads((snapshot / "dataset_card.json").read_text())
    assert td["snapshot"]["content_hash"] == snap_card["content_hash"] and td["snapshot"]["counts"]
    assert (td["n_train"], td["n_test"]) == (PER_SPLIT["train"] * 4, n_test)
    assert (tmp_path / "run" / "report" / "test" / "report.json").is_file()
    assert not list(tmp_path.glob("bundle.tmp-*"))


def test_recipes_are_listed_and_flags_override_them(snapshot):
    assert {"smoke", "quick", "standard"} <= set(recipes()) and all(recipes().values())
    args = parse_args([*_argv(snapshot, Path("x")), "--epochs", "5", "--arch", "tinycnn"])
    assert (args.epochs, args.arch) == (5, "tinycnn")  # the flags win
    assert args.input_size == RECIPES["smoke"].options["input_size"]  # the rest is the recipe's
    parser = train_mod.get_args_parser()  # one parser, parsed twice: the recipe does not stick
    assert parser.parse_args(["--data-dir", "d", "--output-dir", "o", "--recipe", "quick"]).epochs == 8
    plain = parser.parse_args(["--data-dir", "d", "--output-dir", "o"])
    assert (plain.arch, plain.epochs, plain.lr) == ("resnet18", 60, 1e-3)  # no recipe: the parser's defaults
    # A namespace whose defaults never saw the recipe (another parser) is refused, not half-applied.
    foreign = argparse.Namespace(**{**vars(args), "recipe_applied": None})
    with pytest.raises(ValueError, match="--recipe smoke"):
        train_mod.main(foreign)


def test_finetune_keeps_the_head_when_the_classes_match(snapshot, tmp_path):
    parent = tmp_path / "parent"
    make_random_bundle(
        parent, task="brain_mri", class_names=BRAIN_CLASSES[::-1], arch="tinycnn", input_size=40
    )
    out = tmp_path / "run"
    argv = _argv(
        snapshot, out, "--finetune-from", str(parent), "--epochs", "1", "--export-bundle", str(tmp_path / "b")
    )
    train_mod.main(parse_args(argv))
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["args"]["arch"] == "tinycnn" and ckpt["preprocessing"]["input_size"] == 40  # from the parent
    assert ckpt["classes"] == BRAIN_CLASSES[::-1]  # the parent's label order, so its head keeps its meaning
    _model, card = load_model(tmp_path / "b")
    assert card.training_data["finetuned_from"]["head"].startswith("kept")
    assert "Fine-tuned" in card.limitations and "brain_mri-tinycnn-untrained" in card.limitations


def test_finetune_replaces_the_head_when_the_classes_differ(snapshot, tmp_path):
    parent = tmp_path / "parent"
    make_random_bundle(parent, task="brain_mri", class_names=["a", "b"], arch="tinycnn", input_size=32)
    parent_model, _ = load_model(parent)
    out = tmp_path / "run"
    train_mod.main(
        parse_args(_argv(snapshot, out, "--finetune-from", str(parent), "--epochs", "1", "--lr", "0"))
    )
    ckpt = load_checkpoint(out / "checkpoint.pt")
    conv = "features.0.0.weight"
    assert ckpt["model"][conv].equal(parent_model.state_dict()[conv])  # backbone loaded (lr 0: unchanged)
    assert ckpt["model"]["fc.weight"].shape[0] == len(BRAIN_CLASSES)
    assert ckpt["finetuned_from"]["head"].startswith("new")


def test_progress_file_phases_are_written_atomically_and_resume_is_recorded(snapshot, tmp_path, monkeypatch):
    out, pfile = tmp_path / "run", tmp_path / "run" / "progress.json"
    phases: list[str] = []
    real_replace = os.replace

    def recording_replace(src, dst):  # every write goes through tmp + os.replace
        if Path(dst) == pfile:
            assert Path(src).name == "progress.json.tmp"
            phases.append(json.loads(Path(src).read_text())["phase"])
        real_replace(src, dst)

    monkeypatch.setattr(progress_mod.os, "replace", recording_replace)
    argv = _argv(snapshot, out, "--progress-file", str(pfile))
    train_mod.main(parse_args([*argv, "--epochs", "1"]))
    seen = list(dict.fromkeys(phases))
    assert seen == ["loading", "training", "validating", "testing", "done"], phases
    first = json.loads(pfile.read_text())
    assert first["resumed_from_epoch"] is None and first["epoch"] == 1 and len(first["history"]) == 1

    phases.clear()
    resume = ["--epochs", "2", "--resume", str(out / "checkpoint.pt"), "--export-bundle", str(tmp_path / "b")]
    train_mod.main(parse_args([*argv, *resume]))
    final = json.loads(pfile.read_text())
    assert "exporting" in phases and final["phase"] == "done"
    assert final["resumed_from_epoch"] == 1 and [r["epoch"] for r in final["history"]] == [0, 1]
    assert final["epoch"] == final["epochs"] == 2 and final["steps"] == 3 and final["eta_s"] == 0.0
    assert final["bundle"]["dir"] == str(tmp_path / "b") and final["val"]["macro_f1"] is not None


def test_sigterm_stops_promptly_leaving_the_checkpoint_and_no_bundle(snapshot, tmp_path):
    out, bundle = tmp_path / "run", tmp_path / "bundle"
    argv = _argv(
        snapshot,
        out,
        "--epochs",
        "100000",
        "--export-bundle",
        str(bundle),
        "--progress-file",
        str(out / "p.json"),
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "oncocore.training.train", *argv], env=env, cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoint.pt").is_file():  # at least one whole epoch saved
            assert proc.poll() is None and time.monotonic() < deadline, "training never saved a checkpoint"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 128 + signal.SIGTERM
    ckpt = load_checkpoint(out / "checkpoint.pt")  # intact
    assert 0 <= ckpt["epoch"] < 100000
    assert not bundle.exists() and not list(tmp_path.glob("bundle.tmp-*"))
    assert json.loads((out / "p.json").read_text())["phase"] in ("training", "validating")


def test_dicom_images_in_a_snapshot_are_decoded_like_the_jpeg_they_hold(snapshot, tmp_path):
    import numpy as np

    from oncocore.preprocessing import PreprocessSpec, load_image
    from oncocore.training.data import CachedImageDataset

    from ..imaging.conftest import build_dicom

    jpeg = next(snapshot.glob("train/glioma/*.jpg"))
    dcm = tmp_path / "image.dcm"
    dcm.write_bytes(
        build_dicom(load_image(jpeg, 1), modality="MR", rescale=None, sop_class="1.2.840.10008.5.1.4.1.1.4")
    )
    spec = PreprocessSpec.for_task("brain_mri", 32)
    rows = [{"path": p.name, "class": "glioma", "abs_path": str(p)} for p in (jpeg, dcm)]
    ds = CachedImageDataset(rows, spec, ["glioma"], num_workers=1)
    a, b = (ds.images[i].double().flatten().numpy() for i in (0, 1))
    assert a.std() > 10 and np.corrcoef(a, b)[0, 1] > 0.95  # the same picture (DICOM is percentile-windowed)
