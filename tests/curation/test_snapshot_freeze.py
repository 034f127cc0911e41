"""snapshot_freeze: what goes in, the deterministic split and hash, and the refusals."""

from __future__ import annotations

import pytest

from cases.models import AuditEvent, AuditSource
from cases.services.audit import AuditContext
from curation.models import Example, Provenance, Snapshot
from curation.services.snapshots import SnapshotUnchanged, snapshot_freeze, snapshot_plan
from oncocore.datasets.manifest import manifest_bytes, read_manifest_csv
from oncoportal.exceptions import InvalidInput

from .conftest import BRAIN

pytestmark = pytest.mark.django_db


@pytest.fixture
def audit(curator) -> AuditContext:
    return AuditContext.system(source=AuditSource.CLI, actor=curator)


def test_freeze_writes_manifest_then_rows_and_audits(brain_examples, audit, media_dir, tmp_path):
    snapshot = snapshot_freeze(task="brain_mri", note="first", audit=audit)

    assert (snapshot.name, snapshot.version, snapshot.note) == ("brain_mri-v1", 1, "first")
    assert snapshot.class_names == list(BRAIN)
    assert snapshot.size == len(brain_examples) == snapshot.items.count()
    stored = (media_dir / snapshot.manifest.name).read_bytes()
    rows = read_manifest_csv(media_dir / snapshot.manifest.name)
    assert {r.image_id for r in rows} == {e.image_id for e in brain_examples}
    assert stored == manifest_bytes(rows)
    by_image = {e.image_id: e for e in brain_examples}
    for row in rows:
        example = by_image[row.image_id]
        assert (row.label, row.group, row.provenance) == (example.label, example.group, example.provenance)
        assert row.sha256 == example.image.stored_sha256
        assert row.path.startswith(f"{row.split}/{row.label}/")
    for side, per_class in snapshot.counts.items():
        assert per_class == {c: sum(1 for r in rows if r.split == side and r.label == c) for c in BRAIN}
    event = AuditEvent.objects.get(action="snapshot_freeze")
    assert (event.object_id, event.actor_username, event.source) == (str(snapshot.pk), "cur", "cli")
    assert event.detail["content_hash"] == snapshot.content_hash


def test_every_class_in_every_split_and_no_group_in_two(brain_examples, audit):
    snapshot = snapshot_freeze(task="brain_mri", audit=audit)
    splits_of_group: dict[str, set[str]] = {}
    for item in snapshot.items.all():
        splits_of_group.setdefault(item.group, set()).add(item.split)
    assert all(len(s) == 1 for s in splits_of_group.values())
    assert all(n > 0 for per_class in snapshot.counts.values() for n in per_class.values())


def test_excluded_and_non_diagnostic_examples_are_left_out(brain_examples, store_examples, audit):
    excluded, non_diagnostic = store_examples({"glioma": ["glioma-x", "glioma-y"]})
    Example.objects.filter(pk=excluded.pk).update(included=False, exclusion_reason="motion")
    Example.objects.filter(pk=non_diagnostic.pk).update(label="", provenance=Provenance.NON_DIAGNOSTIC)

    snapshot = snapshot_freeze(task="brain_mri", audit=audit)

    frozen = set(snapshot.items.values_list("image_id", flat=True))
    assert frozen == {e.image_id for e in brain_examples}
    assert not {excluded.image_id, non_diagnostic.image_id} & frozen


def test_base_examples_only_with_include_base(brain_examples, store_examples, audit):
    base = store_examples({c: [f"base-{c}"] for c in BRAIN}, provenance=Provenance.BASE)

    with_base = snapshot_freeze(task="brain_mri", audit=audit)
    without = snapshot_freeze(task="brain_mri", include_base=False, audit=audit)

    base_ids = {e.image_id for e in base}
    assert base_ids <= set(with_base.items.values_list("image_id", flat=True))
    assert not base_ids & set(without.items.values_list("image_id", flat=True))
    assert (with_base.version, without.version) == (1, 2)
    assert without.content_hash != with_base.content_hash


def test_same_inputs_give_the_same_split_and_hash(brain_examples, audit):
    first = snapshot_plan(task="brain_mri", seed=3)
    again = snapshot_plan(task="brain_mri", seed=3)
    assert (first.rows, first.content_hash) == (again.rows, again.content_hash)

    snapshot = snapshot_freeze(task="brain_mri", seed=3, audit=audit)
    assert snapshot.content_hash == first.content_hash
    assert [(i.path, i.split) for i in snapshot.items.order_by("path")] == [
        (r.path, r.split) for r in first.rows
    ]

    with pytest.raises(SnapshotUnchanged, match="Nothing changed since brain_mri-v1") as refused:
        snapshot_freeze(task="brain_mri", seed=3, audit=audit)
    assert refused.value.existing == snapshot
    assert Snapshot.objects.count() == 1

    other = snapshot_freeze(task="brain_mri", seed=4, audit=audit)
    assert other.version == 2 and other.content_hash != snapshot.content_hash


def test_a_changed_label_changes_the_hash(brain_examples, audit):
    before = snapshot_plan(task="brain_mri")
    Example.objects.filter(pk=brain_examples[0].pk).update(group="glioma-g9")
    assert snapshot_plan(task="brain_mri").content_hash != before.content_hash


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "no_such_task"}, "Unknown task 'no_such_task'"),
        ({"task": "lung_ct"}, "Task lung_ct has no included, labelled examples"),
        ({"task": "brain_mri", "val_fraction": 0.0}, "validation fraction must be in"),
        ({"task": "brain_mri", "val_fraction": 0.6, "test_fraction": 0.5}, "sum below 1"),
    ],
)
def test_refusals(brain_examples, audit, media_dir, kwargs, message):
    with pytest.raises(InvalidInput, match=message):
        snapshot_freeze(audit=audit, **kwargs)
    assert not Snapshot.objects.exists()
    assert not (media_dir / "snapshots").exists()


def test_refuses_a_class_with_too_few_groups(store_examples, audit, media_dir):
    store_examples({c: [f"{c}-1", f"{c}-2", f"{c}-3"] for c in BRAIN[:3]})
    store_examples({"pituitary": ["only-one", "only-one", "two"]})
    with pytest.raises(InvalidInput, match=r"class 'pituitary' has 2 group\(s\).*needs >= 3"):
        snapshot_freeze(task="brain_mri", audit=audit)
    # Without a test split two groups are enough.
    assert snapshot_freeze(task="brain_mri", test_fraction=0.0, audit=audit).counts["test"] == dict.fromkeys(
        BRAIN, 0
    )


def test_refuses_a_task_missing_a_class(store_examples, audit):
    store_examples({c: [f"{c}-1", f"{c}-2", f"{c}-3"] for c in BRAIN[:3]})
    with pytest.raises(InvalidInput, match="no included examples of class\\(es\\) pituitary"):
        snapshot_freeze(task="brain_mri", audit=audit)


def test_a_freeze_that_loses_the_version_race_leaves_nothing(brain_examples, audit, media_dir, monkeypatch):
    """Another freeze takes the version between the plan and the rows: a 409 and no manifest left behind."""
    from curation.services import snapshots as service
    from oncoportal.exceptions import TransitionNotAllowed

    def manifest_then_lose(rows):  # called once the version is chosen, just before the file is written
        Snapshot.objects.create(task="brain_mri", version=1, name="brain_mri-v1-other", content_hash="x" * 64)
        return manifest_bytes(rows)

    monkeypatch.setattr(service, "manifest_bytes", manifest_then_lose)
    with pytest.raises(TransitionNotAllowed, match="Another freeze of task brain_mri took version 1"):
        snapshot_freeze(task="brain_mri", audit=audit)
    assert list(Snapshot.objects.values_list("name", flat=True)) == ["brain_mri-v1-other"]
    assert not AuditEvent.objects.filter(action="snapshot_freeze").exists()
    assert list((media_dir / "snapshots").rglob("*.csv")) == []


def test_refuses_a_class_that_cannot_name_a_folder(make_example, site, audit):
    """A task declared by a hospital's model card may name a class "a/b": no ImageFolder can hold it."""
    from cases.models import TaskDefinition

    TaskDefinition.objects.create(key="odd_task", classes=["a/b", "c"], definition={})
    for label in ("a/b", "c"):
        for n in range(3):
            make_example(site, task="odd_task", label=label, group=f"{label}-{n}")
    with pytest.raises(InvalidInput, match="Cannot export task odd_task: class 'a/b' cannot name a folder"):
        snapshot_freeze(task="odd_task", audit=audit)
