"""A study of N real instances for the DICOM benches (``bench/cstore.py``, ``bench/stow.py``).

The sample data has no study of 200 instances, so the instances of a real one
(by default pydicom's 7-instance MR series, the one ``tests/dimse`` sends) are
repeated with fresh UIDs: every copy keeps its pixel data and header and gets a
new SOP Instance UID and Instance Number; each source series becomes one new
series, all in one new study. Each call gives a new study, so intake (which
deduplicates by SOP Instance UID) takes every round's copies as new instances.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("ONCOPORTAL_DATA_DIR", REPO.parent / "shared" / "data"))
CHUNKED = os.environ.get("BENCH_CHUNKED", "1") == "1"
DEFAULT_SOURCE = "dicom/pydicom/dicomdirtests/98892003/MR700"


def source_files(source: str) -> list[Path]:
    """The files of ``source`` (a folder or a file, relative to the data folder or absolute)."""
    path = Path(source) if Path(source).is_absolute() else DATA / source
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file())
    elif path.is_file():
        files = [path]
    else:
        raise FileNotFoundError(f"no such file or folder: {path}")
    if not files:
        raise FileNotFoundError(f"no files in {path}")
    return files


def study_copies(sources: list[Path], count: int, folder: Path) -> tuple[str, list[Path]]:
    """``count`` instances of one new study written under ``folder``: (Study Instance UID, files)."""
    folder.mkdir(parents=True, exist_ok=True)
    datasets = [pydicom.dcmread(path) for path in sources]
    study_uid = generate_uid()
    series: dict[str, str] = {}
    files = []
    for i in range(count):
        ds = datasets[i % len(datasets)]
        new_series = series.setdefault(str(ds.SeriesInstanceUID), generate_uid())
        sop_uid = generate_uid()
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = new_series
        ds.SOPInstanceUID = sop_uid
        ds.InstanceNumber = i + 1
        ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
        if not str(ds.get("BodyPartExamined", "")).strip():
            ds.BodyPartExamined = "HEAD"  # so that intake infers the brain MRI task and queues predictions
        path = folder / f"{i:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return study_uid, files


class _Held(threading.Event):
    """A reactor checkpoint that stays cleared: send_c_store's set() after each store does nothing."""

    def set(self) -> None:
        return None


def send_study(port: int, called: str, files: list[Path]) -> tuple[float, float]:
    """C-STORE every file over one association: (seconds until the last store was acknowledged, monotonic
    time just after the release). Files are streamed as they are on disk (not decoded by the sender)."""
    from pynetdicom import AE, _config

    _config.STORE_SEND_CHUNKED_DATASET = CHUNKED
    contexts: dict[str, set[str]] = {}
    for path in files:
        meta = pydicom.dcmread(path, stop_before_pixels=True).file_meta
        contexts.setdefault(str(meta.MediaStorageSOPClassUID), set()).add(str(meta.TransferSyntaxUID))
    ae = AE(ae_title="BENCHSCU")
    for sop_class, syntaxes in contexts.items():
        ae.add_requested_context(sop_class, sorted(syntaxes))
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    if not assoc.is_established:
        raise RuntimeError(f"association to port {port} ({called}) not established")
    # pynetdicom leaves Nagle on: the dataset PDU would wait for the ACK of the command PDU,
    # which the receiver delays (about 40 ms an instance, whoever receives). dcmtk's
    # TCP_NODELAY=1 does the same for storescu.
    sock = assoc.dul.socket.socket if assoc.dul.socket is not None else None
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # pynetdicom's requestor runs a reactor thread that it pauses around each send_c_store; it
    # can slip out of the pause just as a store starts and take a fast peer's response off the
    # queue ("Received unexpected C-STORE service message", then a 30 s DIMSE timeout; seen
    # with storescp on loopback). The reactor is kept paused for the whole batch instead.
    checkpoint = assoc._reactor_checkpoint
    checkpoint.clear()
    while not assoc._is_paused:
        time.sleep(0.001)
    time.sleep(0.05)  # past the window between its flag and its wait
    assoc._reactor_checkpoint = _Held()
    try:
        start = time.perf_counter()
        for path in files:
            status = assoc.send_c_store(path)
            if not status or status.Status != 0:
                raise RuntimeError(f"C-STORE of {path.name} to port {port}: status {status}")
        elapsed = time.perf_counter() - start
    except BaseException:
        assoc._reactor_checkpoint = checkpoint
        checkpoint.set()
        assoc.abort()
        raise
    assoc._reactor_checkpoint = checkpoint
    checkpoint.set()
    assoc.release()
    return elapsed, time.monotonic()
