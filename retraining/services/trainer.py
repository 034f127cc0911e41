"""The trainer's command line: ``python -m oncocore.training.train``, under torchrun with several processes.

One process per visible CUDA GPU (``ONCOPORTAL_TRAINING_NPROC=0``, the
default), or the number that setting gives; above one the trainer runs under
``torchrun --standalone`` (PyTorch DistributedDataParallel, one rank per GPU;
gloo on CPU). Several nodes each run their own jobs: scale out with more
training workers (README, "Retraining").
"""

from __future__ import annotations

import sys
from pathlib import Path

from django.conf import settings

TRAINER_MODULE = "oncocore.training.train"


def trainer_processes() -> int:
    """How many trainer processes a job starts on this node."""
    if settings.TRAINING_NPROC > 0:
        return int(settings.TRAINING_NPROC)
    # Imported here: only the training worker needs torch for this, not every process loading the services.
    import torch

    return max(1, torch.cuda.device_count())


def trainer_command(
    *,
    data_dir: Path,
    run_dir: Path,
    recipe: str,
    progress_file: Path,
    export_dir: Path,
    model_name: str,
    model_version: str,
    finetune_from: Path | None = None,
    resume: Path | None = None,
    nproc: int | None = None,
) -> list[str]:
    """The argv that trains a job (the contract in oncocore/training/train.py's docstring)."""
    nproc = trainer_processes() if nproc is None else nproc
    launcher = [sys.executable, "-m", TRAINER_MODULE]
    if nproc > 1:
        # torchrun is torch.distributed.run's console script; the module form needs no PATH.
        launcher = [
            sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
            "-m", TRAINER_MODULE,
        ]  # fmt: skip
    cmd = [
        *launcher,
        "--data-dir", str(data_dir),
        "--output-dir", str(run_dir),
        "--recipe", recipe,
        "--progress-file", str(progress_file),
        "--export-bundle", str(export_dir),
        "--model-name", model_name,
        "--model-version", model_version,
        "--no-progress",
    ]  # fmt: skip
    if finetune_from is not None:
        cmd += ["--finetune-from", str(finetune_from)]
    if resume is not None:
        cmd += ["--resume", str(resume)]
    # This node's own flags (ONCOPORTAL_TRAINING_EXTRA_ARGS) override the recipe's defaults.
    return [*cmd, *settings.TRAINING_EXTRA_ARGS]
