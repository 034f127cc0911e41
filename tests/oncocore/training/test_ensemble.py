"""Ensemble evaluation: members of one split, scored exactly as the platform serves them."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from oncocore.predictor import Predictor
from oncocore.registry import load_card, make_random_bundle
from oncocore.training import ensemble
from oncocore.training import train as train_mod
from oncocore.training.data import GROUP_COLUMNS, card_validation_rows, limit_per_class, read_manifest


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory, request):
    """A data root holding a ~16-image brain_mri folder: real images, the real manifest's rows."""
    from tests.oncocore.conftest import _require_data

    src = _require_data("brain_mri")
    rows = limit_per_class(read_manifest(src), 4, GROUP_COLUMNS["brain_mri"], seed=0)
    root = tmp_path_factory.mktemp("data")
    folder = root / "brain_mri"
    folder.mkdir()
    with open(src / "MANIFEST.tsv", newline="", encoding="utf-8") as fh:
        fields = csv.DictReader(fh, delimiter="\t").fieldnames
    with open(folder / "MANIFEST.tsv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fields, delimiter="\t", extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow(r)
            (folder / r["path"]).parent.mkdir(parents=True, exist_ok=True)
            (folder / r["path"]).symlink_to(r["abs_path"])
    return root


def _train(root, out, seed: int) -> str:
    args = [
        "--data-dir", str(root / "brain_mri"), "--task", "brain_mri", "--arch", "tinycnn", "--input-size", "32",
        "--batch-size", "4", "--epochs", "2", "--val-fraction", "0.34", "--lr", "0.01", "--warmup-epochs", "0.5",
        "--seed", str(seed), "--split-seed", "0", "--output-dir", str(out / f"run{seed}"),
        "--export-bundle", str(out / f"bundle{seed}"), "--model-version", f"s{seed}", "--no-progress",
        "--workers", "2",
    ]  # fmt: skip
    train_mod.main(train_mod.get_args_parser().parse_args(args))
    return str(out / f"bundle{seed}")


def test_ensemble_scores_what_the_predictor_serves(tiny_root, tmp_path):
    b0, b1 = _train(tiny_root, tmp_path, 0), _train(tiny_root, tmp_path, 1)
    c0, c1 = load_card(b0), load_card(b1)
    # --split-seed keeps the validation images while --seed changes the model.
    assert c0.training_data["split_seed"] == c1.training_data["split_seed"] == 0
    _, val = card_validation_rows(c1, tiny_root)
    assert [r["path"] for r in val] == [r["path"] for r in card_validation_rows(c0, tiny_root)[1]]

    out = tmp_path / "ens"
    result = ensemble.main([b0, b1, "--data-root", str(tiny_root), "--out-dir", str(out), "--device", "cpu"])
    assert result["n"] == len(val)
    assert [m["label"] for m in result["members"]] == ["brain_mri-tinycnn@s0", "brain_mri-tinycnn@s1"]
    # The served ensemble (Predictor over both bundles) gives the same probabilities image by image.
    served = Predictor([b0, b1], device="cpu").predict_sources([r["abs_path"] for r in val])
    classes = list(c0.class_names)
    mean = np.array([[r.probabilities[c] for c in classes] for r in served])
    targets = np.array([classes.index(r["class"]) for r in val])
    assert result["ensemble"]["accuracy"] == pytest.approx(float((mean.argmax(1) == targets).mean()))
    assert result["ensemble"]["nll"] == pytest.approx(
        float(-np.log(mean[np.arange(len(val)), targets]).mean()), rel=1e-3
    )
    v = result["verdict"]
    assert isinstance(v["beats_best_member"], bool) and v["beats_best_member"] == (not v["reasons"])
    saved = json.loads((out / "ensemble.json").read_text())
    assert saved["verdict"] == v and (out / "reliability.png").stat().st_size > 0
    assert "| ensemble |" in (out / "ensemble.md").read_text()
    # The ensemble-level temperature is measured: fitting it never raises the NLL it minimises.
    temp = result["ensemble_temperature"]
    assert temp["temperature"] > 0 and temp["nll"][1] <= temp["nll"][0] + 1e-9
    assert temp["nll"][0] == pytest.approx(result["ensemble"]["nll"], rel=1e-6)
    assert "One more temperature on the ensemble" in (out / "ensemble.md").read_text()

    # A weight near zero leaves the other member alone: the ensemble is that member.
    lopsided = ensemble.evaluate_ensemble([b0, b1], tiny_root, weights=[1.0, 1e-9], device="cpu")
    assert lopsided["ensemble"]["accuracy"] == lopsided["members"][0]["accuracy"]
    assert not lopsided["verdict"]["beats_best_member"]  # equal to a member is not better


def test_members_must_share_task_classes_and_split(tiny_root, tmp_path, capsys):
    b0 = _train(tiny_root, tmp_path, 0)
    other = tmp_path / "random"
    make_random_bundle(other, task="brain_mri", class_names=list(load_card(b0).class_names), arch="tinycnn")
    with pytest.raises(SystemExit) as exc:
        ensemble.main([b0, str(other), "--data-root", str(tiny_root)])
    assert exc.value.code == 2 and "was validated on another split" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ensemble.main([b0, "--data-root", str(tiny_root)])
    assert "at least two bundles" in capsys.readouterr().err
    with pytest.raises(ValueError, match="one positive weight per bundle"):
        ensemble.evaluate_ensemble([b0, b0], tiny_root, weights=[1.0, 0.0])


def test_saliency_check_uses_the_cards_checked_split(tiny_root, tmp_path, capsys):
    from oncocore.training import saliency_check

    b0 = _train(tiny_root, tmp_path, 0)
    report = saliency_check.main(
        ["--bundle", b0, "--data-dir", str(tiny_root / "brain_mri"), "--task", "brain_mri"]
    )
    assert report["images"] == len(card_validation_rows(load_card(b0), tiny_root)[1])
    with pytest.raises(SystemExit) as exc:
        saliency_check.main(["--bundle", b0, "--data-dir", str(tiny_root / "brain_mri"), "--task", "lung_ct"])
    assert exc.value.code == 2 and "not lung_ct" in capsys.readouterr().err
