"""The PHI canary test through DIMSE: the canary DICOM inputs sent to the project's own SCP.

A pynetdicom SCU sends, in one association, the canary test's DICOM inputs (a
JPEG-baseline file and a JPEG 2000 one, with a canary in every text attribute
the profile acts on, in an unknown public attribute, in a private block and
in the COM/APPn segments of their frames) to the listener of ``dimse/``. Once
the study closes it goes through intake like any other upload; then the case
and header pages are drawn, and the same grep as the main canary test runs
over every file under the media, spool and var folders, every text, JSON,
binary and file column, every page and every log record (DEBUG, pynetdicom's
included): no canary anywhere, and each stored file holds the pseudonym.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pydicom
import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from pynetdicom import AE

from tests.dimse.conftest import wait_until
from tests.phi.test_canary import CANARY, _canary_dicom, _database_hits, _stored_bytes_hits

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.filterwarnings("ignore::UserWarning")]


def test_no_canary_is_stored_shown_or_logged_after_dimse(
    start_listener, spool_root, data_dir, media_dir, radiologist, client, caplog, tmp_path
):
    from cases.models import Image, IntakeBatch

    caplog.set_level(logging.DEBUG)
    sent = tmp_path / "send"
    sent.mkdir()
    paths = []
    for n, j2k in ((5, False), (6, True)):
        path = sent / f"{n}.dcm"
        path.write_bytes(_canary_dicom(data_dir, n, j2k=j2k))
        paths.append(path)
    listener = start_listener()
    ae = AE(ae_title="PACS")
    for path in paths:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", listener.port, ae_title="ONCOTEST")
    assert assoc.is_established
    assert [int(assoc.send_c_store(path).Status) for path in paths] == [0x0000, 0x0000]
    assoc.release()
    wait_until(listener.idle, "the studies to be ingested")

    batches = IntakeBatch.objects.filter(source="dimse")
    assert sum(b.accepted_count for b in batches) == 2, [b.report for b in batches]
    assert Image.objects.count() == 2

    client.force_login(radiologist)
    pages = []
    for image in Image.objects.all():
        case_page = client.get(reverse("cases:case_detail", kwargs={"pk": image.case_id}))
        header = client.get(reverse("cases:image_header", kwargs={"pk": image.pk}))
        assert case_page.status_code == header.status_code == 200
        pages += [case_page.content.decode(), header.content.decode()]
        ds = pydicom.dcmread(image.file.path)
        assert ds.PatientID == image.case.study.patient.pseudonym and ds.PatientIdentityRemoved == "YES"

    var_dir = Path(django_settings.VAR_DIR)
    roots = [media_dir, spool_root, *([var_dir] if var_dir.exists() else [])]
    assert _stored_bytes_hits(roots) == []
    assert _database_hits() == []
    assert [p for p in pages if CANARY in p] == []
    logged = [r for r in caplog.records if CANARY in r.getMessage() or CANARY in str(r.args)]
    assert logged == []
