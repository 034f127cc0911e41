"""The Curator page's Snapshots tab (list, freeze form, detail, download) and the read-only admin."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.urls import reverse

from cases.models import AuditEvent
from curation.models import Snapshot

from .conftest import BRAIN

pytestmark = pytest.mark.django_db
FREEZE = {
    "task": "brain_mri",
    "seed": "0",
    "val_fraction": "0.15",
    "test_fraction": "0.15",
    "include_base": "on",
}


def test_freeze_from_the_page_then_detail_and_download(client, curator, brain_examples):
    client.force_login(curator)
    page = client.get(reverse("curation:snapshots"))
    assert page.status_code == 200
    assert b"No snapshot yet" in page.content and b'name="val_fraction"' in page.content

    frozen = client.post(reverse("curation:snapshots"), {**FREEZE, "note": "from the page"})
    snapshot = Snapshot.objects.get()
    assert frozen.status_code == 302 and frozen["Location"] == reverse(
        "curation:snapshot_detail", args=[snapshot.pk]
    )
    assert AuditEvent.objects.get(action="snapshot_freeze").source == "web"

    detail = client.get(frozen["Location"])
    text = detail.content.decode()
    assert detail.status_code == 200
    assert "brain_mri-v1 frozen: 16 images." in text
    assert snapshot.content_hash in text
    assert (
        '<tr data-split="test"><th scope="row">test</th>'
        + "<td>1</td>" * 4
        + "<td><strong>4</strong></td></tr>"
        in text
    )
    assert 'data-count-provenance="corrected"' in text

    listed = client.get(reverse("curation:snapshots")).content.decode()
    assert 'data-snapshot="brain_mri-v1"' in listed and snapshot.content_hash[:12] in listed
    assert "from the page" in listed

    download = client.get(reverse("curation:snapshot_export", args=[snapshot.pk]))
    assert download.status_code == 200 and download.streaming
    assert download["Content-Disposition"] == 'attachment; filename="brain_mri-v1.zip"'
    with zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content))) as zf:
        assert sum(1 for n in zf.namelist() if n.endswith(".jpg")) == 16


def test_the_form_says_why_a_freeze_is_refused(client, curator, store_examples):
    store_examples({c: [f"{c}-1", f"{c}-2"] for c in BRAIN})
    client.force_login(curator)
    refused = client.post(reverse("curation:snapshots"), FREEZE)
    assert refused.status_code == 400
    assert "has 2 group(s); a group split into train, val, test needs &gt;= 3" in refused.content.decode()
    too_much = client.post(
        reverse("curation:snapshots"), {**FREEZE, "val_fraction": "0.5", "test_fraction": "0.5"}
    )
    assert too_much.status_code == 400 and b"must sum below 1" in too_much.content
    assert not Snapshot.objects.exists()
    ok = client.post(reverse("curation:snapshots"), {**FREEZE, "test_fraction": "0"})
    assert ok.status_code == 302
    again = client.post(reverse("curation:snapshots"), {**FREEZE, "test_fraction": "0"})
    assert again.status_code == 400 and b"Nothing changed since brain_mri-v1" in again.content


def test_only_curators(client, radiologist, curator, brain_examples):
    from cases.models import AuditSource
    from cases.services.audit import AuditContext
    from curation.services.snapshots import snapshot_freeze

    snapshot = snapshot_freeze(task="brain_mri", audit=AuditContext.system(source=AuditSource.CLI))
    urls = [
        reverse("curation:snapshots"),
        reverse("curation:snapshot_detail", args=[snapshot.pk]),
        reverse("curation:snapshot_export", args=[snapshot.pk]),
    ]
    client.force_login(radiologist)
    for url in urls:
        assert client.get(url).status_code == 403, url
    assert client.post(urls[0], FREEZE).status_code == 403
    client.force_login(curator)
    assert client.get(reverse("curation:snapshot_detail", args=[snapshot.pk + 1])).status_code == 404


def test_admin_is_read_only_with_counts_items_and_export(client, curator, brain_examples):
    from cases.models import AuditSource
    from cases.services.audit import AuditContext
    from curation.services.snapshots import snapshot_freeze

    snapshot = snapshot_freeze(task="brain_mri", audit=AuditContext.system(source=AuditSource.CLI))
    client.force_login(curator)  # a Curator, staff, with view_snapshot and view_snapshotitem
    listing = client.get(reverse("admin:curation_snapshot_changelist"))
    assert listing.status_code == 200 and b"brain_mri-v1" in listing.content
    page = client.get(reverse("admin:curation_snapshot_change", args=[snapshot.pk]))
    text = page.content.decode()
    assert page.status_code == 200
    assert reverse("curation:snapshot_export", args=[snapshot.pk]) in text and "Export zip" in text
    assert "<th>test</th><td>1</td><td>1</td><td>1</td><td>1</td>" in text
    assert snapshot.items.first().path in text
    assert 'name="_save"' not in text  # nothing to save
    assert (
        client.post(reverse("admin:curation_snapshot_change", args=[snapshot.pk]), {"note": "x"}).status_code
        == 403
    )
    assert client.get(reverse("admin:curation_snapshot_add")).status_code == 403
    assert client.get(reverse("admin:curation_snapshot_delete", args=[snapshot.pk])).status_code == 403
