"""The hostile corpus through DIMSE: a real pynetdicom SCU sends every input to the project's SCP.

Each input's dataset bytes go as they are (``STORE_SEND_CHUNKED_DATASET``: the SCU reads
only the file meta it is given and streams the rest unparsed), under a file meta that names
its SOP class and transfer syntax when they can be read, and a SOP Instance UID of its own.
Inputs that are not DICOM at all go as the dataset bytes of a CT instance, as a hostile peer
would send them. Each must then be refused by the SCP (a C-STORE failure status, or a
presentation context it does not accept) or, once its study closes, stored whole or listed
as a rejected entry of its intake batch with a readable reason. Never an exception out of
the listener, nothing left in the spool, nothing half-stored.

One listener serves the whole corpus (a listener per input would cost seconds each), one
association per input, so this is one test: inputs with a known bug must fail, and only they.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, _config
from pynetdicom.dsutils import split_dataset

from dimse.contexts import STATUS_SUCCESS, image_storage_classes, transfer_syntaxes
from tests.corpus.dicom_inputs import _same_length_uid
from tests.corpus.hostile import HostileInput, for_entry_point
from tests.corpus.support import assert_nothing_half_stored, assert_outcome, is_dicom
from tests.dimse.conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _dataset_and_meta(data: bytes) -> tuple[bytes, str, str]:
    """(dataset bytes, SOP class, transfer syntax) of an input, as well as they can be read."""
    sop_class, ts, start = str(CTImageStorage), str(ExplicitVRLittleEndian), 0
    if data[128:132] == b"DICM":
        start = 132
        if data[132:136] == b"\x02\x00\x00\x00":  # (0002,0000) group length: the meta's end
            (length,) = struct.unpack("<I", data[140:144])
            start = min(144 + length, len(data))
        try:
            meta = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True).file_meta
            ts = str(meta.get("TransferSyntaxUID", ts)).strip("\x00 ") or ts
            sop_class = str(meta.get("MediaStorageSOPClassUID", sop_class)).strip("\x00 ") or sop_class
        except Exception:
            pass
    elif is_dicom(data) and data[4:6].isalpha():
        ts = str(ExplicitVRLittleEndian)
    elif is_dicom(data):
        ts = str(ImplicitVRLittleEndian)
    if sop_class not in image_storage_classes().values():
        sop_class = str(CTImageStorage)
    return data[start:], sop_class, ts


def _file_to_send(item: HostileInput, folder: Path) -> tuple[Path, str, str, str]:
    dataset, sop_class, ts = _dataset_and_meta(item.data)
    sop = _same_length_uid("1" * 50, f"dimse/{item.name}")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop)
    meta.TransferSyntaxUID = UID(ts)
    buf = DicomBytesIO()
    buf.write(bytes(128) + b"DICM")
    write_file_meta_info(buf, meta, enforce_standard=True)
    path = folder / f"{len(list(folder.iterdir())):04d}.dcm"
    path.write_bytes(buf.getvalue() + dataset)
    # The SCU reads the meta up to the first element past group 0002: a dataset that starts with
    # group 0002 elements of its own (a flipped meta) names its own SOP Instance UID.
    sent_meta, _ = split_dataset(path)
    return path, str(sent_meta.MediaStorageSOPInstanceUID), sop_class, ts


def test_dimse_corpus(start_listener, spool_root, media_dir, tmp_path, settings, monkeypatch):
    from cases.models import IntakeBatch

    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)
    items = for_entry_point("dimse")
    folder = tmp_path / "send"
    folder.mkdir()
    sends = [(item, *_file_to_send(item, folder)) for item in items]
    listener = start_listener()
    ae = AE(ae_title="HOSTILE")
    supported = set(transfer_syntaxes())
    contexts = sorted({(sop_class, ts) for *_, sop_class, ts in sends})
    for sop_class, ts in contexts:
        ae.add_requested_context(sop_class, ts)
    assert len(contexts) <= 128, len(contexts)

    # One association per input: its study closes when the association ends, so the intake
    # batches made after it are this input's (the reports name files by position, not by UID).
    failures: dict[str, str] = {}
    stored = 0
    seen: set[object] = set()  # batch ids (UUIDs: not ordered) of the inputs before
    for item, path, _sop, _sop_class, ts in sends:
        assoc = ae.associate("127.0.0.1", listener.port, ae_title="ONCOTEST")
        assert assoc.is_established, item.name
        try:
            status = assoc.send_c_store(path)
        except ValueError:  # no accepted presentation context: the SCP took no such syntax
            assert ts not in supported, item.name
            refused = f"transfer syntax {ts} not accepted by the SCP"
        else:
            code = int(status.Status) if "Status" in status else -1
            refused = "" if code == STATUS_SUCCESS else f"C-STORE failed with status 0x{code:04X}"
        assoc.release()
        wait_until(listener.idle, f"{item.name} to be ingested", timeout=120)
        accepted, reasons, duplicates = 0, [], []
        for batch in IntakeBatch.objects.filter(source="dimse").exclude(pk__in=seen):
            seen.add(batch.pk)
            accepted += len(batch.report["accepted"])
            reasons += [r["reason"] for r in batch.report["rejected"]]
            duplicates += [d["reason"] for d in batch.report["duplicates"]]
        stored += accepted
        try:
            assert not duplicates, duplicates
            if refused:
                assert not accepted and not reasons, f"refused ({refused}) yet in an intake batch"
                reasons = [refused]
            else:
                assert accepted or reasons, "sent and acknowledged, but in no intake batch"
            assert_outcome(item, "dimse", accepted=accepted, reasons=reasons)
        except AssertionError as exc:
            failures[item.name] = str(exc).splitlines()[0]
    known = {item.name: item.known_bug("dimse") for item in items if item.known_bug("dimse")}
    unexpected = {name: why for name, why in failures.items() if name not in known}
    fixed = sorted(set(known) - set(failures))
    assert not unexpected, unexpected
    assert not fixed, f"known bugs that now pass (drop their 'known' mark): {fixed}"
    assert assert_nothing_half_stored(media_dir) == stored
    assert not [p for p in spool_root.rglob("*") if p.is_file()]
