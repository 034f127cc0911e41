"""Model registry commands and the `predict` try-out CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from inference.models import ModelVersion
from tests.inference.conftest import trained_random_bundle

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
    call_command(
        "predict", str(folder), str(dicom), "--task", "brain_mri", "--json", "--overlay-dir", str(overlays)
    )
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


def test_predict_says_outside_the_models_scope_instead_of_a_class(data_dir, capsys):
    bundle = Path(__file__).resolve().parents[4] / "inference" / "bundles" / "brain_mri-lite0"
    brain = data_dir / "brain_mri" / "train" / "meningioma" / "meningioma_001d1f5dcaf3.jpg"
    tile = data_dir / "histo_lung" / "train" / "lung_benign" / "lungn1000.jpg"
    call_command("predict", str(brain), str(tile), "--bundle", str(bundle), "--json")
    inside, outside = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert inside["in_scope"] is True and inside["label"] == "meningioma" and inside["scope_ratio"] <= 1
    assert outside["in_scope"] is False and outside["label"] == "" and outside["scope_ratio"] > 1
    assert set(outside["probabilities"]) == {"glioma", "meningioma", "notumor", "pituitary"}  # for audit
    call_command("predict", str(tile), "--bundle", str(bundle))
    assert "OUTSIDE THE MODEL'S SCOPE" in capsys.readouterr().out


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
    from oncocore import registry

    settings.VAR_DIR = tmp_path / "var"
    root = tmp_path / "bundles"
    root.mkdir()
    # A fresh install: no trained bundle, so each task gets an untrained stand-in.
    call_command("register_models", "--dir", str(root), "--untrained-fallback")
    active = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE)
    assert active.count() == 3 and all(v.untrained for v in active)
    # A trained brain bundle arrives (here a stand-in marked trained): it takes over, the stand-in retires.
    trained = root / "brain"
    card = registry.make_random_bundle(
        trained, task="brain_mri", class_names=["glioma", "meningioma", "notumor", "pituitary"]
    )
    data = json.loads((trained / "model.json").read_text())
    data.update(untrained=False, name="brain_mri", version="1")
    (trained / "model.json").write_text(json.dumps(data))
    call_command("register_models", "--dir", str(root), "--activate-missing", "--untrained-fallback")
    brain = ModelVersion.objects.filter(task="brain_mri", status=ModelVersion.Status.ACTIVE)
    assert [v.name for v in brain] == ["brain_mri"] and card.task == "brain_mri"
    assert ModelVersion.objects.filter(
        task="brain_mri", untrained=True, status=ModelVersion.Status.RETIRED
    ).exists()
    # Running it again changes nothing.
    call_command("register_models", "--dir", str(root), "--activate-missing", "--untrained-fallback")
    assert list(ModelVersion.objects.filter(task="brain_mri", status=ModelVersion.Status.ACTIVE)) == list(
        brain
    )


def test_register_a_sharded_bundle(tmp_path):
    import torch

    from oncocore.nets import build_model
    from oncocore.registry import load_card, make_random_bundle, save_bundle

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


def test_register_models_activates_a_declared_ensemble(tmp_path, settings, capsys):
    from inference.services import active_versions

    settings.VAR_DIR = tmp_path / "var"
    root = tmp_path / "bundles"
    trained_random_bundle(root / "brain-a", "1")
    trained_random_bundle(root / "brain-b", "2")
    trained_random_bundle(root / "lung", "1", task="lung_ct")
    ensembles = root / "ensembles.json"

    for bad, message in [
        ("{not json", "not valid JSON"),
        ({"brain_mri": {"members": {"brain-a": 1}}}, "two or more bundle folders"),
        ({"brain_mri": {"members": {"brain-a": 1, "brain-z": 1}}}, "no bundle folder 'brain-z'"),
        (
            {"brain_mri": {"members": {"brain-a": 1, "lung": 1}}},
            "lung is a lung_ct model, listed under brain_mri",
        ),
        (
            {"brain_mri": {"members": {"brain-a": 1, "brain-b": 0}}},
            "weight of brain-b must be a positive number",
        ),
    ]:
        ensembles.write_text(bad if isinstance(bad, str) else json.dumps(bad))
        with pytest.raises(CommandError, match=message):
            call_command("register_models", "--dir", str(root), "--activate-missing")
        assert not ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).exists()

    ensembles.write_text(
        json.dumps({"brain_mri": {"members": {"brain-a": 1.0, "brain-b": 2.0}, "evidence": "x.md"}})
    )
    call_command("register_models", "--dir", str(root), "--activate-missing", "--untrained-fallback")
    out = capsys.readouterr().out
    assert "activated  ensemble brain_mri@1 (weight 1), brain_mri@2 (weight 2) for brain_mri" in out
    members = active_versions(task="brain_mri")
    assert [(v.version, v.weight) for v in members] == [("2", 2.0), ("1", 1.0)]  # the heavier member leads
    assert [v.version for v in active_versions(task="lung_ct")] == [
        "1"
    ]  # no ensemble declared: the bundle alone
    assert ModelVersion.objects.filter(
        task="histology", untrained=True, status=ModelVersion.Status.ACTIVE
    ).exists()

    # A curator's choice stands: with a trained model active, the declaration changes nothing.
    from inference.services import model_version_activate

    model_version_activate(version=members[1], exclusive=True)
    call_command("register_models", "--dir", str(root), "--activate-missing")
    assert [v.version for v in active_versions(task="brain_mri")] == ["1"]


def test_ensemble_activate_service_checks_its_members(tmp_path):
    from inference.services import active_versions, ensemble_activate, model_version_register
    from oncoportal.exceptions import InvalidInput

    trained_random_bundle(tmp_path / "a", "1")
    trained_random_bundle(tmp_path / "b", "2")
    trained_random_bundle(tmp_path / "c", "3")
    trained_random_bundle(tmp_path / "lung", "1", task="lung_ct")
    a, b, c, lung = (
        model_version_register(bundle_dir=tmp_path / n, activate=True)[0] for n in ("a", "b", "c", "lung")
    )
    ensemble_activate(members=[(a, 1.0), (b, 1.0)])
    assert [v.version for v in active_versions(task="brain_mri")] == [
        "1",
        "2",
    ]  # equal weights: the oldest leads
    c.refresh_from_db()
    assert c.status == ModelVersion.Status.RETIRED
    for members, message in [
        ([], "at least one member"),
        ([(a, 1.0), (lung, 1.0)], "different tasks"),
        ([(a, 1.0), (a, 2.0)], "same model version twice"),
        ([(a, 1.0), (b, -1.0)], "must be positive"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            ensemble_activate(members=members)
    assert [v.version for v in active_versions(task="brain_mri")] == ["1", "2"]  # refused: nothing changed


def test_make_run_registers_the_shipped_bundles_and_ensembles(settings, tmp_path, capsys):
    """What `make run` does on a fresh database: every task active, histology as its declared ensemble."""
    from inference.services import active_versions

    settings.VAR_DIR = tmp_path / "var"
    call_command("register_models", "--activate-missing", "--untrained-fallback")
    shipped = json.loads((settings.MODELS_DIR / "ensembles.json").read_text())
    for task in ("brain_mri", "lung_ct", "histology"):
        members = active_versions(task=task)
        assert members and not any(v.untrained for v in members), task
        assert len(members) == len(shipped.get(task, {}).get("members", {None: 1})), task


def test_model_commands_are_audited_as_the_command_line(random_bundle, capsys):
    from cases.models import AuditEvent

    call_command("register_model", str(random_bundle), "--activate")
    version = ModelVersion.objects.get()
    ref = f"{version.name}@{version.version}"
    call_command("retire_model", ref)
    call_command("activate_model", ref)
    events = AuditEvent.objects.filter(object_type="inference.modelversion").order_by("pk")
    assert [e.action for e in events] == [
        "model.registered",
        "model.activated",
        "model.retired",
        "model.activated",
    ]
    assert {e.source for e in events} == {"cli"}


def test_register_models_retires_a_shipped_bundle_that_was_removed_and_activates_its_successor(
    tmp_path, settings, capsys
):
    """A newer shipped model replaces a removed one on an existing database (`make run` on an old var/)."""
    from cases.models import AuditEvent
    from inference.services import active_versions

    settings.VAR_DIR = tmp_path / "var"
    root = tmp_path / "bundles"
    elsewhere = tmp_path / "candidates" / "brain-candidate"
    trained_random_bundle(elsewhere, "9")
    trained_random_bundle(root / "brain-old", "1")
    call_command("register_models", "--dir", str(root), "--activate-missing")
    assert [v.version for v in active_versions(task="brain_mri")] == ["1"]
    call_command("register_model", str(elsewhere))  # registered, not shipped: left as it is

    shutil.rmtree(root / "brain-old")
    trained_random_bundle(root / "brain-new", "2")
    call_command("register_models", "--dir", str(root), "--activate-missing")
    out = capsys.readouterr().out
    assert "retired    brain_mri@1 (brain_mri): its bundle is no longer shipped" in out
    assert "activated  brain_mri@2 for brain_mri" in out
    assert [v.version for v in active_versions(task="brain_mri")] == ["2"]
    assert ModelVersion.objects.get(version="9").status == ModelVersion.Status.REGISTERED
    assert AuditEvent.objects.filter(
        action="model.retired", object_id=str(ModelVersion.objects.get(version="1").pk)
    ).exists()

    # Run again: nothing more to retire, the successor stays.
    call_command("register_models", "--dir", str(root), "--activate-missing")
    assert "retired" not in capsys.readouterr().out
    assert [v.version for v in active_versions(task="brain_mri")] == ["2"]
