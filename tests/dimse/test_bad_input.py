"""Bad input the listener tests did not cover yet: a connection cut mid-instance, duplicates, pixel-less images."""

from __future__ import annotations

import io
import logging
import socket
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.dimse_messages import C_STORE_RQ
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.pdu import P_DATA_TF

from cases.models import AuditEvent, Case, Image, IntakeBatch
from dimse.listener import STATUS_SUCCESS
from tests.dimse.conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def associate(port: int, calling: str = "PACS") -> Association:
    ae = AE(ae_title=calling)
    ae.add_requested_context(MRImageStorage, ExplicitVRLittleEndian)
    return ae.associate("127.0.0.1", port, ae_title="ONCOTEST")


def spooled(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def c_store_pdus(assoc: Association, path: Path, *, max_pdu: int) -> list[bytes]:
    """The encoded P-DATA-TF PDUs that carry a C-STORE-RQ of ``path`` (command, then dataset fragments)."""
    ds = dcmread(path)
    (context,) = [cx for cx in assoc.accepted_contexts if cx.abstract_syntax == MRImageStorage]
    request = C_STORE()
    request.MessageID = 99
    request.AffectedSOPClassUID = ds.SOPClassUID
    request.AffectedSOPInstanceUID = ds.SOPInstanceUID
    request.Priority = 2
    body = io.BytesIO()
    ds.save_as(body, enforce_file_format=False, implicit_vr=False, little_endian=True)
    request.DataSet = io.BytesIO(body.getvalue())
    message = C_STORE_RQ()
    message.primitive_to_message(request)
    assert context.context_id is not None
    pdus = []
    for primitive in message.encode_msg(context.context_id, max_pdu):
        pdu = P_DATA_TF()
        pdu.from_primitive(primitive)
        pdus.append(pdu.encode())
    return pdus


def test_a_connection_cut_inside_an_instance_keeps_the_acknowledged_ones_and_no_partial_file(
    start_listener, mr_series, spool_root, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="dimse.listener")
    listener = start_listener()
    assoc = associate(listener.port)
    assert [int(assoc.send_c_store(p).Status) for p in mr_series[:3]] == [STATUS_SUCCESS] * 3

    # The fourth instance: its command and first fragment, half of the next, then the TCP
    # connection drops (no A-ABORT, no A-RELEASE): a PACS rebooting, a cable pulled.
    pdus = c_store_pdus(assoc, mr_series[3], max_pdu=512)
    assert len(pdus) >= 3
    raw: socket.socket = assoc.dul.socket.socket  # type: ignore[union-attr,assignment]
    raw.sendall(b"".join(pdus[:2]) + pdus[2][: len(pdus[2]) // 2])
    raw.shutdown(socket.SHUT_RDWR)
    raw.close()
    assoc.kill()

    wait_until(lambda: Image.objects.count() == 3 and listener.idle(), "the acknowledged instances")
    assert {i.sop_instance_uid for i in Image.objects.all()} == {
        str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in mr_series[:3]
    }
    assert any("closed (association aborted)" in r.getMessage() for r in caplog.records)
    assert spooled(spool_root) == []  # no .part file of the cut-off instance, nothing else left
    wait_until(lambda: AuditEvent.objects.filter(action="dimse.association").exists(), "the audit row")
    event = AuditEvent.objects.get(action="dimse.association")
    assert (event.detail["ended"], event.detail["instances"]) == ("aborted", 3)


def test_the_same_instance_twice_in_one_association_is_stored_once(
    start_listener, mr_series, spool_root
) -> None:
    listener = start_listener()
    assoc = associate(listener.port)
    sent = [mr_series[0], mr_series[1], mr_series[0], mr_series[1], mr_series[2]]
    # A duplicate is answered Success: the instance is stored, which is what the sender needs to know.
    assert [int(assoc.send_c_store(p).Status) for p in sent] == [STATUS_SUCCESS] * 5
    assoc.release()
    wait_until(listener.idle, "the study to be ingested")

    assert Image.objects.count() == 3 and Case.objects.count() == 1
    batch = IntakeBatch.objects.get()
    assert (batch.accepted_count, batch.duplicate_count, batch.rejected_count) == (3, 2, 0)
    assert spooled(spool_root) == []


def test_an_image_class_instance_without_pixels_is_acknowledged_then_rejected_by_intake(
    start_listener, mr_series, spool_root, media_dir
) -> None:
    listener = start_listener()
    ds = dcmread(mr_series[0])
    del ds.PixelData
    assoc = associate(listener.port)
    assert int(assoc.send_c_store(ds).Status) == STATUS_SUCCESS  # the status cannot wait for intake
    assert int(assoc.send_c_store(mr_series[1]).Status) == STATUS_SUCCESS
    assoc.release()
    wait_until(listener.idle, "the study to be ingested")

    batch = IntakeBatch.objects.get()
    assert (batch.source, batch.accepted_count, batch.rejected_count) == ("dimse", 1, 1)
    assert "no pixel data" in batch.report["rejected"][0]["reason"]
    assert [i.sop_instance_uid for i in Image.objects.all()] == [str(dcmread(mr_series[1]).SOPInstanceUID)]
    assert spooled(spool_root) == []
    # Only the accepted instance's files are in storage: nothing of the rejected one.
    stored = "\n".join(str(p) for p in spooled(media_dir))
    assert str(ds.SOPInstanceUID) not in stored
