"""A snapshot of the imported base data (manage.py import_base_data): frozen, exported, licences on the card."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from cases.models import AuditSource
from cases.services.audit import AuditContext
from curation.models import Example, Provenance
from curation.services.export import snapshot_write_folder
from curation.services.snapshots import snapshot_freeze
from oncocore.datasets.manifest import CARD_JSON_NAME, CARD_MD_NAME

pytestmark = pytest.mark.django_db


def test_base_data_snapshot(data_dir, tmp_path):
    call_command("import_base_data", "--task", "brain_mri", "--limit-per-class", "3")
    examples = Example.objects.filter(task="brain_mri", provenance=Provenance.BASE)
    assert examples.count() == 12

    snapshot = snapshot_freeze(
        task="brain_mri", test_fraction=0.0, audit=AuditContext.system(source=AuditSource.CLI)
    )
    assert snapshot.size == 12
    assert set(snapshot.items.values_list("group", flat=True)) == set(
        examples.values_list("group", flat=True)
    )

    folder = snapshot_write_folder(snapshot, tmp_path / "out")
    card = json.loads((folder / CARD_JSON_NAME).read_text())
    assert card["provenance"] == {"base": 12}
    [licence] = card["data_licences"]
    assert licence["folder"] == "brain_mri" and licence["file"] == "brain_mri/SOURCE_AND_LICENSE.md"
    assert (
        licence["title"] == (data_dir / "brain_mri" / "SOURCE_AND_LICENSE.md").read_text().splitlines()[0][2:]
    )
    assert licence["licence"]
    assert "brain_mri/SOURCE_AND_LICENSE.md" in (folder / CARD_MD_NAME).read_text()
