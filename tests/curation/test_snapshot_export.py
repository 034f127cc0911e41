"""Exporting a snapshot: the zip stream unzipped against the manifest, the folder equal to it."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from cases.models import AuditEvent, AuditSource
from cases.services.audit import AuditContext
from curation.models import Provenance
from curation.services.export import CHUNK, SnapshotCorrupt, snapshot_export_stream, snapshot_write_folder
from curation.services.snapshots import snapshot_freeze
from oncocore.datasets.manifest import (
    CARD_JSON_NAME,
    CARD_MD_NAME,
    FORMAT,
    is_snapshot_dir,
    read_manifest_csv,
)

from .conftest import BRAIN

pytestmark = pytest.mark.django_db


@pytest.fixture
def audit(curator) -> AuditContext:
    return AuditContext.system(source=AuditSource.CLI, actor=curator)


@pytest.fixture
def snapshot(brain_examples, store_examples, audit):
    store_examples({c: [f"brain_mri:base-{c}"] for c in BRAIN}, provenance=Provenance.BASE)
    return snapshot_freeze(task="brain_mri", seed=1, audit=audit)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _check_against_manifest(root: Path, snapshot) -> None:
    rows = read_manifest_csv(root / "manifest.csv")
    assert len(rows) == snapshot.size == snapshot.items.count()
    files = _files(root)
    assert set(files) == {r.path for r in rows} | {"manifest.csv", CARD_JSON_NAME, CARD_MD_NAME}
    for row in rows:
        assert hashlib.sha256(files[row.path]).hexdigest() == row.sha256
    for side, per_class in snapshot.counts.items():
        assert per_class == {c: sum(1 for r in rows if (r.split, r.label) == (side, c)) for c in BRAIN}


def test_zip_stream_unzips_to_the_manifest_and_equals_the_folder(snapshot, tmp_path):
    chunks = snapshot_export_stream(snapshot)
    sizes = []
    with open(tmp_path / "out.zip", "wb") as out:
        for chunk in chunks:
            sizes.append(len(chunk))
            out.write(chunk)
    assert len(sizes) > snapshot.size  # streamed file by file, not as one archive
    assert max(sizes) <= CHUNK + 64 * 1024

    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        assert zf.testzip() is None
        assert all(n.startswith(f"{snapshot.name}/") for n in zf.namelist())
        images = [i for i in zf.infolist() if i.filename.endswith(".jpg")]
        assert images and all(i.compress_type == zipfile.ZIP_STORED for i in images)
        zf.extractall(tmp_path / "unzipped")
    unzipped = tmp_path / "unzipped" / snapshot.name
    _check_against_manifest(unzipped, snapshot)

    folder = snapshot_write_folder(snapshot, tmp_path / "folder")
    assert folder == tmp_path / "folder"
    assert _files(folder) == _files(unzipped)


def test_two_zip_exports_are_byte_identical(snapshot):
    """Timestamps come from the snapshot, files in manifest order: the zip is a function of the snapshot."""
    assert b"".join(snapshot_export_stream(snapshot)) == b"".join(snapshot_export_stream(snapshot))


def test_dataset_card(snapshot, tmp_path):
    folder = snapshot_write_folder(snapshot, tmp_path / "folder")
    assert is_snapshot_dir(folder)
    card = json.loads((folder / CARD_JSON_NAME).read_text())
    assert card["format"] == FORMAT
    assert (card["name"], card["task"], card["version"], card["modality"]) == (
        "brain_mri-v1",
        "brain_mri",
        1,
        "MR",
    )
    assert card["content_hash"] == snapshot.content_hash
    assert card["classes"] == list(BRAIN)
    assert card["counts"] == snapshot.counts
    assert card["provenance"] == {"base": 4, "corrected": 16}
    assert (card["seed"], card["val_fraction"], card["test_fraction"], card["include_base"]) == (
        1,
        0.15,
        0.15,
        True,
    )
    assert card["created_by"] == "cur"
    licences = {entry["title"]: entry for entry in card["data_licences"]}
    assert licences["brain_mri: source and licence"]["file"] == "brain_mri/SOURCE_AND_LICENSE.md"
    assert licences["brain_mri: source and licence"]["licence"]
    assert "Reviewed cases" in licences
    md = (folder / CARD_MD_NAME).read_text()
    assert "| train |" in md and snapshot.content_hash in md


def test_the_trainer_reads_the_folder(snapshot, tmp_path):
    """oncocore.training reads the export as it is: the snapshot's own split, classes and task from the card."""
    import argparse

    from oncocore.training.sources import load_run_data

    folder = snapshot_write_folder(snapshot, tmp_path / "folder")
    run = load_run_data(argparse.Namespace(data_dir=folder, task=None, card_task=None), split_seed=0)
    assert (run.dataset, run.card_task, run.classes, run.augment_family) == (
        "brain_mri",
        "brain_mri",
        list(BRAIN),
        "mr",
    )
    by_split = {side: sorted(r["path"] for r in getattr(run, side)) for side in ("train", "val", "test")}
    for side, paths in by_split.items():
        assert paths == sorted(snapshot.items.filter(split=side).values_list("path", flat=True))
    assert run.training_data["snapshot"]["content_hash"] == snapshot.content_hash
    assert run.training_data["snapshot"]["seed"] == 1


def test_write_folder_again_returns_the_complete_export(snapshot, tmp_path):
    folder = snapshot_write_folder(snapshot, tmp_path / "folder")
    marker = folder / "manifest.csv"
    before = marker.stat().st_mtime_ns
    assert snapshot_write_folder(snapshot, folder) == folder
    assert marker.stat().st_mtime_ns == before
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x").write_text("something else")
    with pytest.raises(FileExistsError):
        snapshot_write_folder(snapshot, tmp_path / "other")


def test_a_changed_stored_file_stops_the_export(snapshot, media_dir, tmp_path):
    item = snapshot.items.select_related("image").order_by("path").last()
    (media_dir / item.image.file.name).write_bytes(b"not the frozen bytes")

    with pytest.raises(SnapshotCorrupt, match=item.path):
        snapshot_write_folder(snapshot, tmp_path / "folder")
    assert list(tmp_path.iterdir()) == [media_dir]  # nothing half-written, no temporary folder left

    with pytest.raises(SnapshotCorrupt, match=item.path):
        for _chunk in snapshot_export_stream(snapshot):
            pass


def test_a_damaged_manifest_fails_before_the_first_byte(snapshot, media_dir):
    (media_dir / snapshot.manifest.name).write_bytes(b"path,class\n")
    with pytest.raises(SnapshotCorrupt, match="differs"):
        snapshot_export_stream(snapshot)


def test_export_is_audited_when_given_a_context(snapshot, audit, tmp_path):
    snapshot_write_folder(snapshot, tmp_path / "folder", audit=audit)
    b"".join(snapshot_export_stream(snapshot, audit=audit))
    assert list(AuditEvent.objects.filter(action="snapshot_export").values_list("detail__as", flat=True)) in (
        ["zip", "folder"],
        ["folder", "zip"],
    )
