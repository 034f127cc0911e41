"""DIMSE C-STORE of decompression bombs (issue 24 item 1): rejected by intake with the reason, nothing stored."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import CTImageStorage, JPEGLSLossless, RLELossless
from pynetdicom import AE

from cases.models import Image, IntakeBatch
from dimse.listener import STATUS_SUCCESS
from tests.dimse.conftest import wait_until
from tests.oncocore.imaging import bombs

pytestmark = pytest.mark.django_db(transaction=True)


def test_codestream_and_rle_bombs_are_rejected_with_their_reasons(start_listener, spool_root, media_dir):
    listener = start_listener()
    ae = AE(ae_title="PACS")
    ae.add_requested_context(CTImageStorage, JPEGLSLossless)  # one context per syntax: the peer picks one
    ae.add_requested_context(CTImageStorage, RLELossless)
    assoc = ae.associate("127.0.0.1", listener.port, ae_title="ONCOTEST")
    assert assoc.is_established
    sent = [bombs.codestream_bomb("JPEG-LS 16-bit"), bombs.rle_bomb(fallback=True)]
    # The C-STORE status cannot wait for intake (it runs when the study is complete).
    assert [int(assoc.send_c_store(dcmread(io.BytesIO(d))).Status) for d in sent] == [STATUS_SUCCESS] * 2
    assoc.release()
    wait_until(listener.idle, "the study to be ingested")

    batches = list(IntakeBatch.objects.all())  # one per study: each bomb is a study of its own
    assert [(b.source, b.accepted_count, b.rejected_count) for b in batches] == [("dimse", 0, 1)] * 2
    reasons = sorted(r["reason"] for b in batches for r in b.report["rejected"])
    assert reasons == [
        "frame 1: JPEG-LS codestream is 512 x 512, the header says 64 x 64",
        "frame 1: RLE segment 1 expands past the 64 x 64 the header says",
    ]
    assert not Image.objects.exists()
    assert not [p for p in Path(media_dir).rglob("*") if p.is_file()]
    assert not spool_root.exists() or not [p for p in spool_root.rglob("*") if p.is_file()]
