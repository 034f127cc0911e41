"""A frozen snapshot cannot change: not through the ORM, not through raw SQL (the triggers of 0002)."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import ProtectedError

from cases.models import AuditSource
from cases.services.audit import AuditContext
from curation.models import Snapshot, SnapshotImmutable, SnapshotItem
from curation.services.snapshots import snapshot_freeze

pytestmark = pytest.mark.django_db


@pytest.fixture
def snapshot(brain_examples, curator) -> Snapshot:
    return snapshot_freeze(task="brain_mri", audit=AuditContext.system(source=AuditSource.CLI, actor=curator))


def test_orm_save_and_update_are_refused(snapshot):
    snapshot.note = "changed"
    with pytest.raises(SnapshotImmutable):
        snapshot.save()
    item = snapshot.items.first()
    assert item is not None
    item.label = "glioma"
    with pytest.raises(SnapshotImmutable):
        item.save()
    with pytest.raises(SnapshotImmutable):
        Snapshot.objects.filter(pk=snapshot.pk).update(note="changed")
    with pytest.raises(SnapshotImmutable):
        SnapshotItem.objects.filter(snapshot=snapshot).update(split="train")
    with pytest.raises(SnapshotImmutable):
        SnapshotItem.objects.bulk_update([item], ["label"])
    snapshot.refresh_from_db()
    assert snapshot.note == ""


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE curation_snapshot SET note = 'changed'",
        "UPDATE curation_snapshot SET content_hash = 'x' WHERE id = %s",
        "UPDATE curation_snapshotitem SET split = 'train'",
        "UPDATE curation_snapshotitem SET label = 'glioma' WHERE snapshot_id = %s",
    ],
)
def test_raw_sql_update_is_refused_by_the_database(snapshot, sql):
    before = (snapshot.content_hash, sorted(snapshot.items.values_list("path", "split", "label")))
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [snapshot.pk] if "%s" in sql else [])
    fresh = Snapshot.objects.get(pk=snapshot.pk)
    assert (fresh.content_hash, sorted(fresh.items.values_list("path", "split", "label"))) == before


def test_delete_stays_possible_in_the_database_but_not_of_a_used_image(snapshot):
    item = snapshot.items.select_related("image").first()
    assert item is not None
    with pytest.raises(ProtectedError):
        item.image.delete()  # an image a snapshot holds cannot go
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM curation_snapshotitem WHERE id = %s", [item.pk])
    assert not SnapshotItem.objects.filter(pk=item.pk).exists()


def test_a_snapshot_a_training_job_uses_cannot_be_deleted(snapshot):
    from retraining.models import TrainingJob

    TrainingJob.objects.create(snapshot=snapshot, task=snapshot.task, recipe="tiny")
    with pytest.raises(ProtectedError):
        snapshot.delete()
    assert Snapshot.objects.filter(pk=snapshot.pk).exists()
