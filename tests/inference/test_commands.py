"""Model registry commands and the `predict` try-out CLI."""

from __future__ import annotations

import json
import shutil

import pytest
from django.core.management import CommandError, call_command

from inference.models import ModelVersion

pytestmark = pytest.mark.django_db


def test_register_activate_list_retire(random_bundle, capsys):
    call_command("register_model", str(random_bundle), "--activate")
    version = ModelVersion.objects.get()
    assert version.status == ModelVersion.Status.ACTIVE and version.untrained
    call_command("register_model", str(random_bundle))  # idempotent
    assert ModelVersion.objects.count() == 1
    call_command("list_models")
    out = capsys.readouterr().out
    assert f"{version.name}@{version.version}" in out and "UNTRAINED" in out
    call_command("retire_model", f"{version.name}@{version.version}")
    version.refresh_from_db()
    assert version.status == ModelVersion.Status.RETIRED
    call_command("activate_model", version.name)
    version.refresh_from_db()
    assert version.status == ModelVersion.Status.ACTIVE


def test_register_rejects_tampered_weights(random_bundle, tmp_path):
    copy = tmp_path / "tampered"
    shutil.copytree(random_bundle, copy)
    weights = copy / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\x00\x00\x00\x01")
    with pytest.raises(CommandError, match="does not match"):
        call_command("register_model", str(copy))
    with pytest.raises(CommandError, match="no registered model"):
        call_command("activate_model", "nope@1")


def test_predict_json_lines_for_files_and_folders(random_model, data_dir, tmp_path, capsys):
    folder = tmp_path / "inputs"
    folder.mkdir()
    for p in sorted((data_dir / "brain_mri" / "train" / "notumor").glob("*.jpg"))[:3]:
        shutil.copy(p, folder / p.name)
    (folder / "broken.jpg").write_bytes(b"not an image at all")
    dicom = data_dir / "dicom" / "pydicom" / "MR_small.dcm"
    overlays = tmp_path / "overlays"
    call_command("predict", str(folder), str(dicom), "--task", "brain_mri", "--json", "--overlay-dir", str(overlays))
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 5
    errors = [r for r in rows if "error" in r]
    assert [r["path"].endswith("broken.jpg") for r in errors] == [True]
    for row in (r for r in rows if "error" not in r):
        assert row["task"] == "brain_mri"
        assert row["label"] in row["probabilities"]
        assert abs(sum(row["probabilities"].values()) - 1) < 1e-3
        assert 0 <= row["uncertainty"] <= 1
        assert row["model_version"] == f"{random_model.name}@{random_model.version}"
        assert row["untrained"] is True
    assert len(list(overlays.glob("*.png"))) == 4


def test_predict_needs_an_active_model_or_a_bundle(db, tmp_path):
    with pytest.raises(CommandError, match="no active model for lung_ct"):
        call_command("predict", str(tmp_path), "--task", "lung_ct")
    with pytest.raises(CommandError, match="--task is required"):
        call_command("predict", str(tmp_path))


def test_train_model_command_trains_exports_and_registers(data_dir, tmp_path, capsys):
    bundle = tmp_path / "bundle"
    call_command(
        "train_model",
        "--data-dir", str(data_dir / "lung_ct"), "--task", "lung_ct", "--arch", "tinycnn",
        "--input-size", "32", "--epochs", "1", "--limit-per-class", "4", "--batch-size", "8",
        "--output-dir", str(tmp_path / "run"), "--export-bundle", str(bundle), "--no-progress",
        "--register", "--activate",
    )  # fmt: skip
    version = ModelVersion.objects.get()
    assert version.task == "lung_ct" and version.status == ModelVersion.Status.ACTIVE
    assert (bundle / "weights.safetensors").exists()
    assert "registered" in capsys.readouterr().out
    with pytest.raises(CommandError, match="--register needs --export-bundle"):
        call_command("train_model", "--data-dir", str(data_dir / "lung_ct"), "--task", "lung_ct",
                     "--output-dir", str(tmp_path / "run2"), "--register")  # fmt: skip


def test_pretrain_backbone_command_then_train_model_init_from(data_dir, tmp_path, capsys):
    out = tmp_path / "pre"
    call_command(
        "pretrain_backbone", "--data-root", str(data_dir), "--datasets", "lung_ct", "--limit-per-class", "2",
        "--input-size", "32", "--epochs", "1", "--batch-size", "4", "--output-dir", str(out), "--no-progress",
    )  # fmt: skip
    assert json.loads(capsys.readouterr().out)["checkpoint"].endswith("pretrained.pt")
    with pytest.raises(CommandError, match="backbone is resnet10, this run trains resnet18"):
        call_command("train_model", "--data-dir", str(data_dir / "lung_ct"), "--task", "lung_ct",
                     "--arch", "resnet18", "--input-size", "32", "--epochs", "1", "--limit-per-class", "2",
                     "--output-dir", str(tmp_path / "run"), "--init-from", str(out / "pretrained.pt"),
                     "--no-progress")  # fmt: skip
    with pytest.raises(CommandError, match=r"MANIFEST\.tsv"):
        call_command("pretrain_backbone", "--data-root", str(tmp_path), "--datasets", "lung_ct",
                     "--output-dir", str(out), "--no-progress")  # fmt: skip


def test_register_models_prefers_trained_bundles_over_stand_ins(tmp_path, settings, capsys):
    from inference import registry

    settings.VAR_DIR = tmp_path / "var"
    root = tmp_path / "bundles"
    root.mkdir()
    # A fresh install: no trained bundle, so each task gets an untrained stand-in.
    call_command("register_models", "--dir", str(root), "--untrained-fallback")
    active = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE)
    assert active.count() == 3 and all(v.untrained for v in active)
    # A trained brain bundle arrives (here a stand-in marked trained): it takes over, the stand-in retires.
    trained = root / "brain"
    card = registry.make_random_bundle(trained, task="brain_mri", class_names=["glioma", "meningioma", "notumor", "pituitary"])
    data = json.loads((trained / "model.json").read_text())
    data.update(untrained=False, name="brain_mri", version="1")
    (trained / "model.json").write_text(json.dumps(data))
    call_command("register_models", "--dir", str(root), "--activate-missing", "--untrained-fallback")
    brain = ModelVersion.objects.filter(task="brain_mri", status=ModelVersion.Status.ACTIVE)
    assert [v.name for v in brain] == ["brain_mri"] and card.task == "brain_mri"
    assert ModelVersion.objects.filter(task="brain_mri", untrained=True, status=ModelVersion.Status.RETIRED).exists()
    # Running it again changes nothing.
    call_command("register_models", "--dir", str(root), "--activate-missing", "--untrained-fallback")
    assert list(ModelVersion.objects.filter(task="brain_mri", status=ModelVersion.Status.ACTIVE)) == list(brain)


def test_register_a_sharded_bundle(tmp_path):
    import torch

    from inference.nets import build_model
    from inference.registry import load_card, make_random_bundle, save_bundle

    make_random_bundle(
        tmp_path / "one", task="brain_mri", class_names=["glioma", "meningioma", "notumor", "pituitary"]
    )
    card = load_card(tmp_path / "one")
    torch.manual_seed(0)
    sharded = save_bundle(
        tmp_path / "sharded",
        build_model("tinycnn", num_classes=4, in_channels=1),
        card,
        max_shard_bytes=4096,
        overwrite=True,
    )
    call_command("register_model", str(tmp_path / "sharded"))
    version = ModelVersion.objects.get()
    assert len(sharded.weights_files) > 1 and version.weights_sha256 == sharded.weights_sha256
    (tmp_path / "sharded" / sharded.weights_files[-1]["file"]).unlink()
    ModelVersion.objects.all().delete()
    with pytest.raises(CommandError, match="weights file missing"):
        call_command("register_model", str(tmp_path / "sharded"))
