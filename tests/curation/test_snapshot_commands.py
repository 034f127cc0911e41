"""manage.py freeze_snapshot and export_snapshot."""

from __future__ import annotations

import zipfile

import pytest
from django.core.management import CommandError, call_command

from cases.models import AuditEvent
from curation.models import Snapshot
from oncocore.datasets.manifest import read_manifest_csv

pytestmark = pytest.mark.django_db


def test_freeze_then_export_zip_and_folder(brain_examples, curator, tmp_path, capsys):
    call_command("freeze_snapshot", "--task", "brain_mri", "--seed", "5", "--note", "cli", "--user", "cur")
    out = capsys.readouterr().out
    snapshot = Snapshot.objects.get()
    assert out.startswith(
        f"brain_mri-v1 (id {snapshot.pk}): 16 images (train 8, val 4, test 4), content hash "
    )
    assert (snapshot.seed, snapshot.note, snapshot.created_by) == (5, "cli", curator)
    assert AuditEvent.objects.get(action="snapshot_freeze").source == "cli"

    call_command("export_snapshot", "brain_mri-v1", str(tmp_path / "out.zip"))
    call_command("export_snapshot", str(snapshot.pk), str(tmp_path / "folder"))
    rows = read_manifest_csv(tmp_path / "folder" / "manifest.csv")
    assert len(rows) == 16 and all((tmp_path / "folder" / r.path).is_file() for r in rows)
    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        names = set(zf.namelist())
    assert {f"brain_mri-v1/{r.path}" for r in rows} <= names
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_freeze_options(brain_examples, store_examples):
    from curation.models import Provenance

    store_examples({"glioma": ["base-1"]}, provenance=Provenance.BASE)
    call_command(
        "freeze_snapshot", "--task", "brain_mri", "--no-base", "--test-fraction", "0", "--val-fraction", "0.3"
    )
    snapshot = Snapshot.objects.get()
    assert (snapshot.include_base, snapshot.test_fraction, snapshot.val_fraction) == (False, 0.0, 0.3)
    assert snapshot.size == len(brain_examples)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["freeze_snapshot", "--task", "nope"], "Unknown task 'nope'."),
        (["freeze_snapshot", "--task", "lung_ct"], "Task lung_ct has no included, labelled examples."),
        (["freeze_snapshot", "--task", "brain_mri", "--user", "ghost"], "unknown user 'ghost'"),
        (["export_snapshot", "brain_mri-v9", "x.zip"], "no snapshot 'brain_mri-v9' (newest: none yet)"),
    ],
)
def test_one_line_errors(brain_examples, args, message):
    with pytest.raises(CommandError) as raised:
        call_command(*args)
    assert str(raised.value) == message


def test_unchanged_freeze_and_a_failed_export_say_why(brain_examples, media_dir, tmp_path):
    call_command("freeze_snapshot", "--task", "brain_mri")
    with pytest.raises(CommandError, match="Nothing changed since brain_mri-v1"):
        call_command("freeze_snapshot", "--task", "brain_mri")
    item = Snapshot.objects.get().items.select_related("image").first()
    (media_dir / item.image.file.name).write_bytes(b"changed")
    with pytest.raises(CommandError, match=f"{item.path}: the stored file's SHA-256"):
        call_command("export_snapshot", "brain_mri-v1", str(tmp_path / "out.zip"))
    assert not (tmp_path / "out.zip").exists() and not (tmp_path / "out.zip.partial").exists()
