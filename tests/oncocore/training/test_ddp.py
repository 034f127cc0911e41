"""DistributedDataParallel: two gloo processes on CPU (torchrun) train what one process trains.

Why the results can match, and how closely:

- every rank builds the same global batch (same seed, order and augmentation
  draws) and forwards its share of it (here 3 + 2 images: uneven on purpose);
  each share's loss is scaled so that DDP's gradient average is the one-process
  gradient of the whole batch, class weights and label smoothing included;
- the smoke recipe's net normalises with GroupNorm, which has no batch
  statistics: with BatchNorm each rank would normalise by its own share's
  statistics, a different computation, not a rounding difference (on CUDA
  SyncBatchNorm removes that; PyTorch has no SyncBatchNorm on CPU).

What is left is float32 rounding: the gradient is summed in another order
(two partial sums and an all-reduce instead of one sum), about 1e-7 relative
per step, carried through a handful of AdamW steps (measured: under 1e-6). A tolerance of 1e-4 on
every weight and on the validation loss is well above that and far below what
any real divergence (a wrong share, a missing scale factor, a rank training on
other images) produces: those change weights by 1e-3 to 1e-1 after one step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from oncocore.training.checkpoint import load_checkpoint

from ..conftest import REPO
from .snapshot_folder import make_snapshot

TORCHRUN = Path(sys.executable).with_name("torchrun")
ATOL = 1e-4
#: Smoke recipe plus uneven shares (batch 5 on 2 ranks), augmentation, MixUp and class weights.
FLAGS = ["--recipe", "smoke", "--batch-size", "5", "--augment", "auto", "--mixup-alpha", "0.4", "--seed", "3"]


def _run(cmd: list[str], out: Path, *extra: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    argv = [*cmd, "-m", "oncocore.training.train", *FLAGS, "--output-dir", str(out), "--no-progress", *extra]
    proc = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


@pytest.mark.skipif(not TORCHRUN.is_file(), reason="torchrun is not installed next to this Python")
def test_two_gloo_processes_match_one_process_and_resume_alike(tmp_path, require_data):
    snapshot = make_snapshot(
        require_data("brain_mri"), tmp_path / "snap", train_counts={"glioma": 7, "notumor": 3}
    )  # unbalanced: class weights differ from 1
    data = ["--data-dir", str(snapshot)]
    one, two = tmp_path / "one", tmp_path / "two"
    _run([sys.executable], one, *data)
    torchrun = [str(TORCHRUN), "--standalone", "--nproc_per_node", "2"]
    # The distributed run stops after its first epoch (a time budget that one epoch exhausts; the
    # schedule stays that of 2 epochs) and resumes for the second, as a restarted job would.
    _run(torchrun, two, *data, "--time-budget-minutes", "0.0001")
    first = load_checkpoint(two / "checkpoint.pt")
    assert first["world_size"] == 2 and first["epoch"] == 0
    _run(torchrun, two, *data, "--resume", str(two / "checkpoint.pt"), "--progress-file", str(two / "p.json"))

    a, b = load_checkpoint(one / "checkpoint.pt"), load_checkpoint(two / "checkpoint.pt")
    assert a["epoch"] == b["epoch"] == 1 and a["classes"] == b["classes"]
    assert a["model"].keys() == b["model"].keys()
    for name, wa in a["model"].items():
        assert torch.allclose(wa, b["model"][name], rtol=0, atol=ATOL), name
    # The match is not vacuous: the second epoch moved the weights far more than the tolerance.
    moved = max((wa - first["model"][k]).abs().max().item() for k, wa in a["model"].items())
    assert moved > 100 * ATOL, moved
    log_a, log_b = _log(one), _log(two)
    assert [r["epoch"] for r in log_b] == [0, 1]  # one log, written by rank 0 only
    for ra, rb in zip(log_a, log_b, strict=True):
        assert rb["val_loss"] == pytest.approx(ra["val_loss"], abs=ATOL)
        assert rb["train_loss"] == pytest.approx(ra["train_loss"], abs=ATOL)  # all-reduced over the shares
        assert rb["val_accuracy"] == ra["val_accuracy"]
    progress = json.loads((two / "p.json").read_text())
    assert progress["resumed_from_epoch"] == 1 and progress["phase"] == "done"
