"""Snapshots are immutable in the database too: triggers refuse any UPDATE of a snapshot or an item.

The models already refuse ``save()`` of an existing row and ``QuerySet.update()``;
these triggers also stop raw SQL, a shell, a data migration. DELETE stays
allowed (test flushes need it; the app has no delete path for items, and a
snapshot a training job uses is protected by its foreign key).

SQLite drops a table's triggers with the table, and Django's SQLite schema
editor rebuilds a table for most ALTERs: a later migration that alters
curation_snapshot or curation_snapshotitem must run ``_create`` again.
tests/curation/test_snapshot_immutable.py fails if the triggers are gone.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

TABLES = ("curation_snapshot", "curation_snapshotitem")
MESSAGE = "snapshots are immutable: freeze a new version instead"
FUNCTION = "curation_refuse_snapshot_update"


def _trigger(table: str) -> str:
    return f"{table}_no_update"


def _create(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            f"CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{MESSAGE} (%)', TG_TABLE_NAME USING ERRCODE = 'restrict_violation'; END $$",
            params=None,  # no parameters: the % is PL/pgSQL's, not a placeholder
        )
        for table in TABLES:
            schema_editor.execute(
                f"CREATE TRIGGER {_trigger(table)} BEFORE UPDATE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()"
            )
    elif vendor == "sqlite":
        for table in TABLES:
            schema_editor.execute(
                f"CREATE TRIGGER {_trigger(table)} BEFORE UPDATE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{MESSAGE} ({table})'); END"
            )
    else:
        raise NotImplementedError(f"no immutability triggers for the {vendor} database")


def _drop(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    for table in TABLES:
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {_trigger(table)} ON {table}")
        else:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {_trigger(table)}")
    if vendor == "postgresql":
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")


class Migration(migrations.Migration):
    dependencies = [("curation", "0001_initial")]

    operations = [migrations.RunPython(_create, _drop)]
