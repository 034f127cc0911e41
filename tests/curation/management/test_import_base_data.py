"""``import_base_data``: a tiny folder of real histology tiles, imported once as base examples."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from cases.models import AuditEvent, Case, CaseStatus, Image, IntakeBatch
from curation.models import Example, Provenance
from inference.models import Prediction

pytestmark = pytest.mark.django_db
HISTO_CLASSES = ["lung_adenocarcinoma", "lung_benign", "lung_squamous_cell_carcinoma"]
PER_CLASS = 3


def tiny_folder(data_dir: Path, target: Path, *, group_column: str = "lc25000_clean_cluster") -> list[dict]:
    """``target`` with PER_CLASS real tiles per class, their manifest rows, plus an unknown class and a missing file."""
    source = data_dir / "histo_lung"
    with open(source / "MANIFEST.tsv", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    chosen = [r for label in HISTO_CLASSES for r in [r for r in rows if r["class"] == label][:PER_CLASS]]
    kept = []
    for r in chosen:
        (target / r["path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / r["path"], target / r["path"])
        kept.append({"path": r["path"], "class": r["class"], group_column: r["lc25000_clean_cluster"]})
    stray = rows[-1]
    shutil.copyfile(source / stray["path"], target / "train" / "stray.jpg")
    extra = [
        {"path": "train/stray.jpg", "class": "lung_unknown", group_column: "x:1"},
        {"path": "train/lung_benign/missing.jpg", "class": "lung_benign", group_column: "x:2"},
    ]
    with open(target / "MANIFEST.tsv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "class", group_column], delimiter="\t")
        writer.writeheader()
        writer.writerows([*kept, *extra])
    return kept


@pytest.fixture
def histology_model(tmp_path):
    """An active histology model: were the base images announced, they would be queued for it."""
    from inference.services import model_version_activate, model_version_register
    from oncocore import registry

    folder = tmp_path / "histo-bundle"
    registry.make_random_bundle(folder, task="histology", class_names=HISTO_CLASSES, channels=3)
    version, _ = model_version_register(bundle_dir=folder)
    model_version_activate(version=version)
    return version


@pytest.fixture
def data_root(tmp_path, data_dir, settings):
    root = tmp_path / "data"
    (root / "histo_lung").mkdir(parents=True)
    rows = tiny_folder(data_dir, root / "histo_lung")
    settings.DATA_DIR = root
    return rows


def run(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("import_base_data", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_imports_once_as_reviewed_base_examples_never_queued(
    data_root, histology_model, curator, client, mocker, django_capture_on_commit_callbacks
):
    delay = mocker.patch("inference.services.run_predictions.delay")
    with django_capture_on_commit_callbacks(execute=True):
        out = run()

    assert f"histo_lung: {3 * PER_CLASS} new, 0 already imported, 2 rejected" in out
    assert "rejected  train/stray.jpg: class 'lung_unknown' is not one of histology's" in out
    assert "rejected  train/lung_benign/missing.jpg: no such file" in out
    examples = Example.objects.select_related("site", "case", "image").order_by("source_path")
    assert examples.count() == 3 * PER_CLASS
    by_path = {e.source_path: e for e in examples}
    for row in data_root:
        example = by_path[row["path"]]
        assert (example.provenance, example.label, example.task) == (
            Provenance.BASE,
            row["class"],
            "histology",
        )
        assert example.group == f"histo_lung:{row['lc25000_clean_cluster']}"
        assert example.site.code == "base-data" and example.included
        assert example.case.status == CaseStatus.REVIEWED
    # Not announced: no prediction, nothing queued, nothing on the worklist.
    assert not Prediction.objects.exists()
    delay.assert_not_called()
    assert IntakeBatch.objects.get().accepted_count == 3 * PER_CLASS
    client.force_login(curator)
    assert client.get(reverse("cases:worklist")).context["page"].paginator.count == 0
    assert AuditEvent.objects.filter(action="curation.base_data_imported", source="cli").exists()

    again = run()
    assert f"histo_lung: 0 new, {3 * PER_CLASS} already imported, 2 rejected; 0 example(s) created" in again
    assert Example.objects.count() == Image.objects.count() == Case.objects.count() == 3 * PER_CLASS


def test_an_interrupted_import_is_completed_by_the_next_run(data_root):
    run("--limit-per-class", "1")
    assert Example.objects.count() == 3
    Example.objects.filter(label="lung_benign").delete()  # as if the run had stopped after the intake

    out = run("--limit-per-class", "1")
    assert "0 new, 3 already imported" in out and "1 example(s) created" in out
    assert sorted(Example.objects.values_list("label", flat=True)) == HISTO_CLASSES


def test_any_folder_with_a_task_and_group_column(tmp_path, data_dir):
    folder = tmp_path / "tiles"
    folder.mkdir()
    tiny_folder(data_dir, folder, group_column="cluster")
    out = run(
        "--data-dir",
        str(folder),
        "--task",
        "histology",
        "--group-column",
        "cluster",
        "--limit-per-class",
        "2",
    )
    assert "tiles: 6 new" in out
    assert all(g.startswith("tiles:lung_") for g in Example.objects.values_list("group", flat=True))
    with pytest.raises(CommandError, match="no task has the data folder 'tiles'"):
        run("--data-dir", str(folder))
    with pytest.raises(CommandError, match="no group column 'patient'"):
        run("--data-dir", str(folder), "--task", "histology", "--group-column", "patient")
    with pytest.raises(CommandError, match=r"MANIFEST\.tsv"):
        run("--data-dir", str(tmp_path / "nowhere"), "--task", "histology", "--group-column", "cluster")


def test_task_alone_picks_that_tasks_folder_under_data_dir(data_root):
    out = run("--task", "histology", "--limit-per-class", "1")
    assert "histo_lung: 3 new" in out
    with pytest.raises(CommandError, match=r"no MANIFEST\.tsv in task 'brain_mri'"):
        run("--task", "brain_mri")
