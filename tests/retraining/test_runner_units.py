"""The runner's pure parts: the trainer's command line, its progress file, its last error line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from retraining.services.runner import last_error_line, progress_fields, read_progress
from retraining.services.trainer import trainer_command


def command(**kwargs) -> list[str]:
    run = Path("/runs/job-7")
    return trainer_command(
        data_dir=run / "data",
        run_dir=run,
        recipe="quick",
        progress_file=run / "progress.json",
        export_dir=run / "bundle",
        model_name="brain_mri-retrained",
        model_version="s3-job7",
        **kwargs,
    )


def test_one_process_runs_the_trainer_module_with_the_contracts_flags():
    cmd = command(nproc=1)
    assert cmd[:3] == [sys.executable, "-m", "oncocore.training.train"]
    flags = dict(zip(cmd[3::2], cmd[4::2], strict=False))
    assert flags["--data-dir"] == "/runs/job-7/data" and flags["--output-dir"] == "/runs/job-7"
    assert flags["--recipe"] == "quick" and flags["--progress-file"] == "/runs/job-7/progress.json"
    assert flags["--export-bundle"] == "/runs/job-7/bundle" and flags["--model-version"] == "s3-job7"
    assert "--resume" not in cmd and "--finetune-from" not in cmd


def test_several_processes_run_under_torchrun_and_resume_passes_the_checkpoint():
    cmd = command(nproc=2, resume=Path("/runs/job-7/checkpoint.pt"), finetune_from=Path("/bundles/base"))
    assert cmd[:8] == [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "oncocore.training.train",
    ]  # fmt: skip
    assert cmd[cmd.index("--resume") + 1] == "/runs/job-7/checkpoint.pt"
    assert cmd[cmd.index("--finetune-from") + 1] == "/bundles/base"


def test_the_nodes_extra_flags_come_last_so_they_override_the_recipe(settings):
    settings.TRAINING_EXTRA_ARGS = ["--epochs", "3", "--workers", "8"]
    assert command(nproc=1)[-4:] == ["--epochs", "3", "--workers", "8"]


def test_the_nproc_setting_decides_the_launcher(settings):
    settings.TRAINING_NPROC = 3
    assert command()[command().index("--nproc_per_node") + 1] == "3"
    settings.TRAINING_NPROC = 1
    assert command()[2] == "oncocore.training.train"


def test_progress_fields_copy_what_the_trainer_reports(tmp_path):
    path = tmp_path / "progress.json"
    assert read_progress(path) == {}
    path.write_text("{not json")
    assert read_progress(path) == {}
    report = {
        "phase": "training",
        "epoch": 2,
        "epochs": 5,
        "step": 3,
        "steps": 10,
        "train_loss": 0.75,
        "val": {"macro_f1": 0.5, "accuracy": 0.6},
        "history": [{"epoch": 0, "train_loss": 1.0}, {"epoch": 1, "train_loss": 0.8}, "junk"],
        "elapsed_s": 12.0,
        "eta_s": 30.5,
        "resumed_from_epoch": 1,
    }
    path.write_text(json.dumps(report))
    fields = progress_fields(read_progress(path))
    assert fields == {
        "phase": "training",
        "epoch": 2,
        "epochs": 5,
        "step": 3,
        "steps": 10,
        "train_loss": 0.75,
        "eta_seconds": 30.5,
        "val_metrics": {"macro_f1": 0.5, "accuracy": 0.6},
        "history": [{"epoch": 0, "train_loss": 1.0}, {"epoch": 1, "train_loss": 0.8}],
        "resumed_from_epoch": 1,
    }
    assert progress_fields({"epoch": "two", "resumed_from_epoch": None, "train_loss": None}) == {
        "train_loss": None
    }


def test_last_error_line_skips_torchruns_rulers(tmp_path):
    err = tmp_path / "trainer-1.err"
    err.write_text(
        "Traceback (most recent call last):\n  File x\nValueError: no images in train/glioma\n"
        "==========================\n\n"
    )
    assert last_error_line(err) == "ValueError: no images in train/glioma"
    assert "no error output" in last_error_line(tmp_path / "missing.err")
