"""scripts/gpu_pack.py and gpu_checkpoint.py: the data pack for the GPU machine, shrunk checkpoints, the time budget."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import shutil

import torch
from PIL import Image

from oncocore.registry import load_model
from oncocore.training import train as train_mod
from oncocore.training.checkpoint import load_checkpoint
from oncocore.training.data import GROUP_COLUMNS, group_split, manifest_digest, read_manifest
from tests.oncocore.conftest import REPO
from tests.oncocore.helpers import jpeg_bytes, synthetic_rgb, synthetic_scan

_spec = importlib.util.spec_from_file_location("gpu_pack", REPO / "scripts" / "gpu_pack.py")
assert _spec is not None and _spec.loader is not None
gpu_pack = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_pack)
_spec = importlib.util.spec_from_file_location("gpu_checkpoint", REPO / "scripts" / "gpu_checkpoint.py")
assert _spec is not None and _spec.loader is not None
gpu_checkpoint = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_checkpoint)

CLASSES = {"lung_ct": ["benign", "malignant", "normal"], "histo_lung": ["aca", "benign", "scc"]}


def _make_folder(root, folder, groups=3, per_group=2):
    """A data folder in the shipped layout: MANIFEST.tsv + train/<class>/*.jpg."""
    d = root / folder
    col = GROUP_COLUMNS[folder]
    rows, seed = [], 0
    for cls in CLASSES[folder]:
        (d / "train" / cls).mkdir(parents=True)
        for g in range(groups):
            for i in range(per_group):
                seed += 1
                arr = synthetic_scan(96, 72, seed) if folder == "lung_ct" else synthetic_rgb(40, 40, seed)
                data = jpeg_bytes(arr, 95)
                rel = f"train/{cls}/{cls}_{g}_{i}.jpg"
                (d / rel).write_bytes(data)
                h, w = arr.shape[:2]
                sha = hashlib.sha1(data).hexdigest()
                rows.append([rel, cls, "train", sha, len(data), w, h, f"{cls}-g{g}"])
    with open(d / "MANIFEST.tsv", "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, delimiter="\t", lineterminator="\n")
        out.writerow(["path", "class", "split", "sha1", "bytes", "width", "height", col])
        out.writerows(rows)
    (d / "SOURCE_AND_LICENSE.md").write_text("synthetic\n", encoding="utf-8")
    return d


def _pack(data, pack, *folders, extra=()):
    argv = [*folders, "--data-dir", str(data), "--out", str(pack), "--max-side", "48", "--travel-mib", "0"]
    return gpu_pack.main([*argv, "--jobs", "1", *extra])


def _paths(rows):
    return [r["path"] for r in rows]


def test_pack_layout_size_and_identical_split(tmp_path, capsys):
    data, pack = tmp_path / "data", tmp_path / ".pack"
    for folder in ("lung_ct", "histo_lung"):
        _make_folder(data, folder)
    assert _pack(data, pack, "lung_ct", "histo_lung", extra=["--quality", "80"]) == 0
    assert "split identical" in capsys.readouterr().out
    assert (pack / "wheels").is_dir()
    for folder in ("lung_ct", "histo_lung"):
        src, dst = data / folder, pack / folder
        assert (dst / "MANIFEST.tsv").read_bytes() == (src / "MANIFEST.tsv").read_bytes()
        assert (dst / "SOURCE_AND_LICENSE.md").is_file()
        a, b = read_manifest(src), read_manifest(dst)
        assert manifest_digest(a) == manifest_digest(b)
        for seed in (0, 1, 2):
            (ta, va), (tb, vb) = (group_split(r, GROUP_COLUMNS[folder], 0.2, seed) for r in (a, b))
            assert _paths(ta) == _paths(tb) and _paths(va) == _paths(vb) and va
        for r in b:
            with Image.open(r["abs_path"]) as im:
                assert im.format == "JPEG" and max(im.size) <= 48
                assert im.mode == ("L" if folder == "lung_ct" else "RGB")
        info = json.loads((dst / "PACK.json").read_text())
        assert info["images"] == len(b) and info["max_side"] == 48
    # Downscaled and re-encoded (96x72 grayscale), or copied byte for byte (40 px tiles fit).
    assert json.loads((pack / "lung_ct" / "PACK.json").read_text())["resized"] == 18
    for r in read_manifest(data / "histo_lung"):
        assert (pack / "histo_lung" / r["path"]).read_bytes() == (
            data / "histo_lung" / r["path"]
        ).read_bytes()


def test_pack_budget_auto_quality_and_clear_failure(tmp_path, capsys):
    data, pack = tmp_path / "data", tmp_path / ".pack"
    _make_folder(data, "lung_ct")
    assert _pack(data, pack, "lung_ct", extra=["--quality", "92"]) == 0
    full = gpu_pack.dir_bytes(pack / "lung_ct")
    budget = 0.75 * full / gpu_pack.MIB
    assert _pack(data, pack, "lung_ct", extra=["--budget-mib", f"{budget:.6f}"]) == 0
    info = json.loads((pack / "lung_ct" / "PACK.json").read_text())
    assert info["quality"] < 92 and gpu_pack.dir_bytes(pack / "lung_ct") <= budget * gpu_pack.MIB
    capsys.readouterr()
    assert _pack(data, pack, "lung_ct", extra=["--quality", "90", "--budget-mib", "0.001"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gpu_pack: error: lung_ct:") and "over" in err[0]
    assert (pack / "lung_ct" / "MANIFEST.tsv").is_file()  # the last good pack is left in place


def _train_args(data_dir, out, *extra):
    base = ["--data-dir", str(data_dir), "--task", "lung_ct", "--arch", "tinycnn", "--input-size", "32"]
    base += [
        "--batch-size",
        "4",
        "--output-dir",
        str(out),
        "--no-progress",
        "--workers",
        "1",
        "--epochs",
        "3",
    ]
    return train_mod.get_args_parser().parse_args([*base, *extra])


def test_time_budget_stops_then_shrunk_checkpoint_resumes(tmp_path):
    data, pack = tmp_path / "data", tmp_path / ".pack"
    _make_folder(data, "lung_ct")
    assert _pack(data, pack, "lung_ct") == 0
    run, bundle = tmp_path / "run", tmp_path / "bundle"
    first = train_mod.main(
        _train_args(pack / "lung_ct", run, "--time-budget-minutes", "1e-9", "--export-bundle", str(bundle))
    )
    assert first["time_budget_stop"] and first["next_epoch"] == 1
    assert load_checkpoint(run / "checkpoint.pt")["epoch"] == 0 and not bundle.exists()
    status = gpu_checkpoint.checkpoint_status(run / "checkpoint.pt")
    assert status["epoch"] == 0 and not status["finished"]

    # What travels back and forth: a shrunk checkpoint (float16, no AdamW moments) and the log.
    carried = tmp_path / "carried"
    n = gpu_checkpoint.shrink_checkpoint(run / "checkpoint.pt", carried / "checkpoint.pt")
    gpu_checkpoint.shrink_checkpoint(run / "best.pt", carried / "best.pt", weights_only_state=True)
    assert n < (run / "checkpoint.pt").stat().st_size
    small = load_checkpoint(carried / "checkpoint.pt")
    assert small["optimizer"]["state"] == {} and small["optimizer"]["param_groups"]
    assert all(v.dtype == torch.float16 for v in small["model"].values() if v.is_floating_point())
    assert "optimizer" not in load_checkpoint(carried / "best.pt")

    fresh = tmp_path / "fresh"  # a fresh machine: only the carried files
    fresh.mkdir()
    for f in ("checkpoint.pt", "best.pt"):
        shutil.copy(carried / f, fresh / f)
    shutil.copy(run / "log.jsonl", fresh / "log.jsonl")
    second = train_mod.main(
        _train_args(
            pack / "lung_ct",
            fresh,
            "--resume",
            str(fresh / "checkpoint.pt"),
            "--time-budget-minutes",
            "60",
            "--export-bundle",
            str(bundle),
            "--model-version",
            "t1",
        )
    )
    assert "time_budget_stop" not in second and "bundle" in second
    assert gpu_checkpoint.checkpoint_status(fresh / "checkpoint.pt") | {"best_metric": 0} == {
        "epoch": 2,
        "epochs": 3,
        "best_epoch": second["best_epoch"],
        "best_metric": 0,
        "finished": True,
    }
    log = [json.loads(line) for line in (fresh / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1, 2]
    _model, card = load_model(bundle)
    assert card.version == "t1" and card.training_data["manifest_sha256"] == manifest_digest(
        read_manifest(data / "lung_ct")
    )


def test_unknown_folder_is_one_line(tmp_path, capsys):
    assert gpu_pack.main(["nope", "--data-dir", str(tmp_path), "--out", str(tmp_path / "p")]) == 1
    assert capsys.readouterr().err.count("\n") == 1
