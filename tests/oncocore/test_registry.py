"""Model bundles: round trip, integrity checks, card validation."""

from __future__ import annotations

import json

import pytest
import torch

from oncocore.nets import build_model
from oncocore.preprocessing import PreprocessSpec
from oncocore.registry import (
    BundleError,
    BundleIntegrityError,
    BundleNotFoundError,
    ModelCard,
    load_card,
    load_model,
    make_random_bundle,
    save_bundle,
)

from .helpers import BRAIN_CLASSES


def _card(**kw):
    base = dict(
        name="brain-test",
        version="1.0",
        task="brain_mri",
        arch="tinycnn",
        class_names=tuple(BRAIN_CLASSES),
        preprocessing=PreprocessSpec(input_size=32),
        class_hierarchy={"glioma": "tumour"},
        metrics={"macro_f1": 0.5},
        temperature=1.7,
    )
    return ModelCard(**{**base, **kw})


@pytest.mark.parametrize("half", [False, True])
def test_round_trip(tmp_path, half):
    torch.manual_seed(0)
    model = build_model("tinycnn", num_classes=4, in_channels=1).eval()
    written = save_bundle(tmp_path / "b", model, _card(), half=half)
    assert len(written.weights_sha256) == 64 and written.created_at
    assert written.weights_dtype == ("float16" if half else "float32")
    assert written.input_spec["shape"] == ["B", 1, 32, 32]
    card = load_card(tmp_path / "b")
    assert card == written and card.temperature == 1.7 and card.class_hierarchy == {"glioma": "tumour"}
    loaded, card2 = load_model(tmp_path / "b", "cpu")
    assert not loaded.training and card2 == card
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(
            loaded(x), model(x), atol=1e-2 if half else 1e-6, rtol=1e-2 if half else 1e-6
        )


def test_sha256_mismatch_and_missing_files(tmp_path):
    make_random_bundle(tmp_path / "b", task="brain_mri", class_names=BRAIN_CLASSES)
    weights = tmp_path / "b" / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # flip bits in the last tensor byte
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError, match="SHA-256 mismatch"):
        load_model(tmp_path / "b")
    weights.unlink()
    with pytest.raises(BundleNotFoundError, match="weights file missing"):
        load_model(tmp_path / "b")
    with pytest.raises(FileNotFoundError):  # BundleNotFoundError is also a FileNotFoundError
        load_card(tmp_path / "nowhere")


def test_card_validation_messages(tmp_path):
    card = make_random_bundle(tmp_path / "b", task="brain_mri", class_names=BRAIN_CLASSES)
    path = tmp_path / "b" / "model.json"
    good = card.to_dict()
    cases = [
        ({k: v for k, v in good.items() if k != "arch"}, "missing key 'arch'"),
        ({**good, "temperature": -1}, "temperature"),
        ({**good, "class_names": ["a"]}, "class_names"),
        ({**good, "arch": "vgg99"}, "unknown arch"),
        ({**good, "preprocessing": {**good["preprocessing"], "channels": 2}}, "preprocessing"),
        ({**good, "surprise": 1}, "unknown key"),
        ({**good, "untrained": "yes"}, "untrained"),
    ]
    for data, message in cases:
        path.write_text(json.dumps(data))
        with pytest.raises(BundleError, match=message):
            load_card(tmp_path / "b")
    path.write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_card(tmp_path / "b")


def test_random_bundle_and_overwrite_and_wrong_weights(tmp_path):
    card = make_random_bundle(
        tmp_path / "b", task="histology", class_names=["a", "b", "c"], channels=3, input_size=32
    )
    assert (
        card.untrained
        and card.preprocessing.channels == 3
        and "Not for any clinical use" in card.intended_use
    )
    model, _ = load_model(tmp_path / "b")
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 3)
    with pytest.raises(FileExistsError):
        make_random_bundle(tmp_path / "b", task="histology", class_names=["a", "b", "c"], channels=3)
    wrong = build_model("tinycnn", num_classes=5, in_channels=1)
    with pytest.raises(BundleError, match="do not fit"):
        save_bundle(tmp_path / "c", wrong, _card())


def test_weights_over_the_file_limit_are_sharded(tmp_path):
    """A ResNet-18 (22 MB in float16) is written as shards under 16 MiB and loads back whole."""
    from oncocore.registry import MAX_SHARD_BYTES, weights_digest

    torch.manual_seed(0)
    model = build_model("resnet18", num_classes=4, in_channels=1).eval()
    card = save_bundle(tmp_path / "b", model, _card(arch="resnet18"), half=True)
    files = sorted(p.name for p in (tmp_path / "b").iterdir())
    assert files == ["model.json", "weights-00001-of-00002.safetensors", "weights-00002-of-00002.safetensors"]
    for shard in card.weights_files:
        size = (tmp_path / "b" / shard["file"]).stat().st_size
        assert size == shard["bytes"] and size < 16 << 20 and shard["bytes"] <= MAX_SHARD_BYTES + 4096
    assert load_card(tmp_path / "b") == card and weights_digest(tmp_path / "b", card) == card.weights_sha256
    loaded, _ = load_model(tmp_path / "b")
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), atol=2e-2, rtol=2e-2)

    # A corrupt shard is named; a missing one too.
    second = tmp_path / "b" / "weights-00002-of-00002.safetensors"
    data = bytearray(second.read_bytes())
    data[-1] ^= 0xFF
    second.write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError, match="weights-00002-of-00002"):
        load_model(tmp_path / "b")
    second.unlink()
    with pytest.raises(BundleNotFoundError, match="weights-00002-of-00002"):
        load_model(tmp_path / "b")

    # Overwriting with a small model leaves one weights.safetensors and no stale shards.
    small = build_model("tinycnn", num_classes=4, in_channels=1)
    again = save_bundle(tmp_path / "b", small, _card(), overwrite=True)
    assert again.weights_files == () and "weights_files" not in json.loads(
        (tmp_path / "b" / "model.json").read_text()
    )
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["model.json", "weights.safetensors"]
    load_model(tmp_path / "b")


def test_shard_names_in_the_card_are_checked(tmp_path):
    torch.manual_seed(0)
    model = build_model("tinycnn", num_classes=4, in_channels=1)
    card = save_bundle(tmp_path / "b", model, _card(), max_shard_bytes=2048)
    assert len(card.weights_files) > 1
    load_model(tmp_path / "b")
    good = json.loads((tmp_path / "b" / "model.json").read_text())
    shards = good["weights_files"]
    bad_cards = [
        [
            {**shards[0], "file": "../../etc/weights-00001-of-00002.safetensors"},
            *shards[1:],
        ],  # not a bare name
        [shards[1], shards[0], *shards[2:]],  # out of order
        [{**shards[0], "sha256": "xyz"}, *shards[1:]],
        [shards[0]],  # one shard
    ]
    for weights_files in bad_cards:
        (tmp_path / "b" / "model.json").write_text(json.dumps({**good, "weights_files": weights_files}))
        with pytest.raises(BundleError, match="weights_files"):
            load_card(tmp_path / "b")
    # The shard list itself is covered by weights_sha256: a swapped digest in the card is caught.
    swapped = [{**shards[0], "sha256": "0" * 64}, *shards[1:]]
    (tmp_path / "b" / "model.json").write_text(json.dumps({**good, "weights_files": swapped}))
    with pytest.raises(BundleIntegrityError, match="SHA-256 mismatch"):
        load_model(tmp_path / "b")


def test_shipped_bundles_and_their_ensembles(tmp_path):
    """What ships in inference/bundles loads, stays under 16 MiB a file, and ensembles.json fits it."""
    from pathlib import Path

    from oncocore.registry import weight_files, weights_digest

    root = Path(__file__).resolve().parents[2] / "inference" / "bundles"
    cards = {p.parent.name: load_card(p.parent) for p in sorted(root.glob("*/model.json"))}
    assert {c.task for c in cards.values()} == {"brain_mri", "lung_ct", "histology"}
    for folder, card in cards.items():
        assert not card.untrained, folder
        assert weights_digest(root / folder, card) == card.weights_sha256, folder
        for name in weight_files(card):
            assert (root / folder / name).stat().st_size < 16 << 20, f"{folder}/{name}"
    ensembles = json.loads((root / "ensembles.json").read_text())
    for task, spec in ensembles.items():
        members = spec["members"]
        assert len(members) >= 2 and all(w > 0 for w in members.values())
        assert {cards[f].task for f in members} == {task}
        assert len({tuple(cards[f].class_names) for f in members}) == 1
        # Members were validated on one split, so the ensemble's evidence is about the same images.
        assert len({cards[f].training_data["manifest_sha256"] for f in members}) == 1
        assert len({cards[f].training_data["split_seed"] for f in members}) == 1
