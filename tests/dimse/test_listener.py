"""The listener in this process, with pynetdicom as the peer: statuses, closing rules, spool, audit."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import UID, ExplicitVRLittleEndian, MRImageStorage, RTPlanStorage, generate_uid
from pynetdicom import AE
from pynetdicom import _config as pynetdicom_config
from pynetdicom.association import Association

from cases.models import AuditEvent, Case, Image, IntakeBatch
from dimse.contexts import STATUS_CANNOT_UNDERSTAND, STATUS_OUT_OF_RESOURCES, VERIFICATION, transfer_syntaxes
from tests.dimse.conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def associate(port: int, calling: str = "PACS") -> Association:
    ae = AE(ae_title=calling)
    ae.add_requested_context(VERIFICATION)
    ae.add_requested_context(MRImageStorage, ExplicitVRLittleEndian)
    ae.add_requested_context(RTPlanStorage, ExplicitVRLittleEndian)
    return ae.associate("127.0.0.1", port, ae_title="ONCOTEST")


def store(assoc: Association, path: Path) -> int:
    status = assoc.send_c_store(path)
    return int(status.Status)


def spooled(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def closed_lines(caplog: pytest.LogCaptureFixture, rule: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if f"closed ({rule})" in r.getMessage()]


def test_echo_answers_success(start_listener) -> None:
    listener = start_listener()
    assoc = associate(listener.port)
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0x0000
    assoc.release()


def test_negotiates_the_decodable_syntaxes_and_no_unread_sop_class(start_listener) -> None:
    listener = start_listener()
    syntaxes = transfer_syntaxes()
    for uid in (
        "1.2.840.10008.1.2.4.50",
        "1.2.840.10008.1.2.4.70",
        "1.2.840.10008.1.2.4.80",
        "1.2.840.10008.1.2.4.90",
        "1.2.840.10008.1.2.5",
        "1.2.840.10008.1.2.1.99",
        "1.2.840.10008.1.2.2",
    ):
        assert uid in syntaxes
    assoc = associate(listener.port)
    accepted = {cx.abstract_syntax for cx in assoc.accepted_contexts}
    assert MRImageStorage in accepted
    assert RTPlanStorage not in accepted  # not an image: refused at negotiation
    assoc.release()


def test_a_series_in_one_association_becomes_one_case(
    start_listener, mr_series, spool_root, site, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="dimse.listener")
    listener = start_listener()
    assoc = associate(listener.port)
    assert [store(assoc, path) for path in mr_series] == [0x0000] * 7
    assoc.release()
    wait_until(listener.idle, "the study to be ingested")

    assert Image.objects.count() == 7
    case = Case.objects.get()
    assert case.site == site and case.images.count() == 7
    assert {str(dcmread(p).SOPInstanceUID) for p in mr_series} == set(
        Image.objects.values_list("sop_instance_uid", flat=True)
    )
    batch = IntakeBatch.objects.get()
    assert (batch.source, batch.accepted_count, batch.rejected_count) == ("dimse", 7, 0)
    assert AuditEvent.objects.get(action="intake.batch").source == "dimse"
    event = AuditEvent.objects.get(action="dimse.association")
    assert event.source == "dimse"
    assert event.detail | {"association": ""} == {
        "association": "",
        "calling_ae": "PACS",
        "host": "127.0.0.1",
        "port": event.detail["port"],
        "site": "uh-radiology",
        "ended": "released",
        "instances": 7,
        "refused_instances": 0,
        "studies": 1,
        "studies_closed": 1,
    }
    assert len(closed_lines(caplog, "association released")) == 1
    assert spooled(spool_root) == []


def test_an_aborted_association_is_ingested_up_to_its_last_acknowledged_instance(
    start_listener, mr_series, spool_root, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="dimse.listener")
    listener = start_listener()
    assoc = associate(listener.port)
    assert [store(assoc, path) for path in mr_series[:3]] == [0x0000] * 3
    assoc.abort()
    wait_until(lambda: Image.objects.count() == 3 and listener.idle(), "the aborted association's study")
    assert closed_lines(caplog, "association aborted")
    assert spooled(spool_root) == []
    # The sender tries again with the whole series: the first three add nothing.
    assoc = associate(listener.port)
    assert [store(assoc, path) for path in mr_series] == [0x0000] * 7
    assoc.release()
    wait_until(lambda: Image.objects.count() == 7 and listener.idle(), "the resent study")
    assert Case.objects.count() == 1
    assert IntakeBatch.objects.order_by("-created_at")[0].duplicate_count == 3


def test_quiet_time_closes_a_study_sent_over_two_parallel_associations(
    start_listener, mr_series, spool_root, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="dimse.listener")
    listener = start_listener(quiet=2)
    first, second = associate(listener.port), associate(listener.port, calling="PACS2")
    assert [store(first, path) for path in mr_series[:4]] == [0x0000] * 4
    assert [store(second, path) for path in mr_series[4:]] == [0x0000] * 3
    first.release()  # the study stays open: the second association is still delivering it
    wait_until(lambda: Image.objects.count() == 7, "the quiet rule to close the study")
    assert second.is_established
    second.release()
    wait_until(listener.idle, "the listener to settle")

    assert Case.objects.count() == 1 and Case.objects.get().images.count() == 7
    assert closed_lines(caplog, "quiet for 2 s")
    assert not closed_lines(caplog, "association released")
    assert spooled(spool_root) == []
    assert AuditEvent.objects.filter(action="dimse.association").count() == 2


def test_a_later_association_adds_to_the_same_case(start_listener, mr_series) -> None:
    listener = start_listener()
    for part in (mr_series[:2], mr_series[2:]):
        assoc = associate(listener.port)
        assert all(store(assoc, path) == 0 for path in part)
        assoc.release()
        wait_until(listener.idle, "the part to be ingested")
    assert Case.objects.count() == 1 and Image.objects.count() == 7
    assert IntakeBatch.objects.filter(source="dimse").count() == 2


def test_a_spool_left_by_a_crash_is_ingested_at_start_up(
    start_listener, mr_series, spool_root, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="dimse.listener")
    study_uid = str(dcmread(mr_series[0]).StudyInstanceUID)
    folder = spool_root / "20250101T000000-deadbeef" / study_uid
    folder.mkdir(parents=True)
    for path in mr_series:
        shutil.copy(path, folder / f"{dcmread(path).SOPInstanceUID}.dcm")
    (folder / "1.2.3.abcdef.part").write_bytes(b"half written")  # the write the crash cut off

    listener = start_listener()
    wait_until(listener.idle, "the left-over study")
    assert Image.objects.count() == 7 and Case.objects.count() == 1
    assert closed_lines(caplog, "left in spool at start-up")
    assert spooled(spool_root) == []


def _file_with_body(body: bytes, sop_uid: str) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out = DicomBytesIO()
    out.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(out, meta)
    return out.getvalue() + body


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\x08\x00\x16\x00UI\xff\xff1.2", id="element longer than the data"),
        pytest.param(
            b"garbage!" * 16,
            id="not a dataset",
            marks=pytest.mark.filterwarnings("ignore:Expected explicit VR:UserWarning"),
        ),
    ],
)
def test_a_malformed_dataset_is_refused_and_nothing_is_stored(
    start_listener, mr_series, spool_root, tmp_path, body, monkeypatch
) -> None:
    # Send the file's bytes as they are (pynetdicom would otherwise decode them first).
    monkeypatch.setattr(pynetdicom_config, "STORE_SEND_CHUNKED_DATASET", True)
    listener = start_listener()
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(_file_with_body(body, generate_uid()))
    assoc = associate(listener.port)
    assert store(assoc, bad) == STATUS_CANNOT_UNDERSTAND
    assert spooled(spool_root) == []
    assert store(assoc, mr_series[0]) == 0x0000  # the association goes on
    assoc.release()
    wait_until(listener.idle, "the good instance")
    assert Image.objects.count() == 1
    assert AuditEvent.objects.get(action="dimse.association").detail["refused_instances"] == 1


@pytest.mark.parametrize(
    "study_uid",
    [
        pytest.param("", id="no study UID"),
        pytest.param(
            "../../etc/passwd",
            id="not a UID",
            marks=pytest.mark.filterwarnings("ignore:Invalid value for VR UI"),
        ),
    ],
)
def test_a_dataset_without_a_valid_study_uid_is_refused(start_listener, spool_root, study_uid) -> None:
    listener = start_listener()
    ds = Dataset()
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "MR"
    ds.StudyInstanceUID = study_uid
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    assoc = associate(listener.port)
    assert assoc.send_c_store(ds).Status == STATUS_CANNOT_UNDERSTAND
    assoc.release()
    wait_until(listener.idle, "the association to end")
    assert spooled(spool_root) == [] and Image.objects.count() == 0


def test_a_spool_that_cannot_be_written_answers_out_of_resources(start_listener, mr_series, tmp_path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the spool should be")
    listener = start_listener(root=blocked)
    assoc = associate(listener.port)
    assert store(assoc, mr_series[0]) == STATUS_OUT_OF_RESOURCES
    assoc.release()
    wait_until(listener.idle, "the association to end")
    assert Image.objects.count() == 0
    assert blocked.read_text() == "a file where the spool should be"


def test_only_allowed_calling_aes_and_hosts_associate(start_listener, mr_series, spool_root) -> None:
    listener = start_listener(allowed=["PACS@127.0.0.1", "MODALITY@10.9.9.9"])
    refused = associate(listener.port, calling="INTRUDER")
    assert refused.is_rejected
    wrong_host = associate(listener.port, calling="MODALITY")
    assert wrong_host.is_rejected
    accepted = associate(listener.port, calling="PACS")
    assert accepted.is_established
    accepted.release()
    wait_until(
        lambda: listener.idle() and AuditEvent.objects.filter(action__startswith="dimse.").count() == 3,
        "the audit rows",
    )
    refusals = AuditEvent.objects.filter(action="dimse.association_refused")
    assert sorted(e.detail["calling_ae"] for e in refusals) == ["INTRUDER", "MODALITY"]
    assert all(e.source == "dimse" for e in refusals)


def test_an_empty_allowed_list_refuses_everyone_in_production(start_listener) -> None:
    listener = start_listener(allowed=[], open_when_empty=False)
    assert associate(listener.port).is_rejected
