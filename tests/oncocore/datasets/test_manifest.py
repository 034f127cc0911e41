"""The snapshot layout both the exporter and the trainer go through."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from oncocore.datasets.manifest import (
    CARD_JSON_NAME,
    COLUMNS,
    FORMAT,
    ManifestRow,
    content_hash,
    is_snapshot_dir,
    item_path,
    manifest_bytes,
    read_manifest_csv,
)

ROWS = [
    ManifestRow("val/b/00000002.png", "b", "val", "g2", "2" * 64, 2, "corrected"),
    ManifestRow("train/a/00000001.jpg", "a", "train", "g,1", "1" * 64, 1, "base"),
    ManifestRow("test/a/00000003.dcm", "a", "test", 'g"3', "3" * 64, 3, "adjudicated"),
]
PARAMS = {"task": "t", "seed": 0, "val_fraction": 0.15, "test_fraction": 0.15}


def test_item_path():
    assert item_path(split="train", label="glioma", image_id=42, suffix=".JPG") == "train/glioma/00000042.jpg"
    with pytest.raises(ValueError, match="unknown split"):
        item_path(split="holdout", label="a", image_id=1, suffix=".png")
    for bad in ("", "a/b", "..", "."):
        with pytest.raises(ValueError, match="cannot name a folder"):
            item_path(split="val", label=bad, image_id=1, suffix=".png")


def test_manifest_round_trip_sorted_by_path(tmp_path):
    data = manifest_bytes(ROWS)
    lines = data.decode().splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert [line.split(",")[0] for line in lines[1:]] == sorted(r.path for r in ROWS)
    assert manifest_bytes(reversed(ROWS)) == data
    (tmp_path / "manifest.csv").write_bytes(data)
    assert read_manifest_csv(tmp_path / "manifest.csv") == sorted(ROWS, key=lambda r: r.path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("path,class\nx,a\n", "missing column"),
        (",".join(COLUMNS) + "\ntrain/a/1.png,a,holdout,g,h,1,base\n", "unknown split 'holdout'"),
        (",".join(COLUMNS) + "\ntrain/a/1.png,a,train,g,h,one,base\n", "image_id 'one' is not a number"),
    ],
)
def test_read_refuses_a_bad_manifest(tmp_path, text, message):
    (tmp_path / "manifest.csv").write_text(text)
    with pytest.raises(ValueError, match=message):
        read_manifest_csv(tmp_path / "manifest.csv")


def test_content_hash_is_order_free_and_sees_every_field():
    base = content_hash(ROWS, PARAMS)
    assert content_hash(list(reversed(ROWS)), dict(reversed(list(PARAMS.items())))) == base
    assert content_hash(ROWS, {**PARAMS, "seed": 1}) != base
    assert content_hash([replace(ROWS[0], group="other"), *ROWS[1:]], PARAMS) != base
    assert content_hash([replace(ROWS[0], split="train"), *ROWS[1:]], PARAMS) != base
    assert content_hash(ROWS[1:], PARAMS) != base


def test_is_snapshot_dir(tmp_path):
    assert not is_snapshot_dir(tmp_path)
    (tmp_path / CARD_JSON_NAME).write_text("not json")
    assert not is_snapshot_dir(tmp_path)
    (tmp_path / CARD_JSON_NAME).write_text(json.dumps({"format": "other/1"}))
    assert not is_snapshot_dir(tmp_path)
    (tmp_path / CARD_JSON_NAME).write_text(json.dumps({"format": FORMAT}))
    assert is_snapshot_dir(tmp_path)
