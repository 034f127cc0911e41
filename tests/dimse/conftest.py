"""A listener in this process on a free loopback port, and the real series it is sent."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dimse.access import AccessPolicy
from dimse.ingest import StudyIngest, listener_sites
from dimse.listener import DicomListener
from dimse.records import ListenerConfig

# A real MR series: 7 instances, one study, one series (pydicom's DICOMDIR test set).
MR_SERIES = "dicom/pydicom/dicomdirtests/98892003/MR700"


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll until ``condition`` holds; the deadline only stops a hung test, it asserts nothing about speed."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def mr_series(data_dir: Path) -> list[Path]:
    files = sorted((data_dir / MR_SERIES).iterdir())
    assert len(files) == 7
    return files


@pytest.fixture
def spool_root(tmp_path: Path) -> Path:
    return tmp_path / "dicom-spool"


@pytest.fixture
def start_listener(site, spool_root: Path) -> Iterator[Callable[..., DicomListener]]:
    """Start a listener for ``site`` (on a free port); it is stopped after the test.

    ``allowed`` entries may name their own site (``AE=SITE``), as ONCOPORTAL_DICOM_ALLOWED's.
    """
    started: list[DicomListener] = []

    def start(
        *,
        allowed: list[str] | None = None,
        open_when_empty: bool = True,
        quiet: float = 30.0,
        root: Path | None = None,
    ) -> DicomListener:
        config = ListenerConfig(
            ae_title="ONCOTEST",
            port=0,
            host="127.0.0.1",
            access=AccessPolicy.parse(allowed or [], open_when_empty=open_when_empty),
            quiet_seconds=quiet,
            spool_root=root or spool_root,
        )
        ingest = StudyIngest(site, listener_sites(config.access))
        listener = DicomListener(
            config, ingest=ingest, on_association=ingest.record_association, on_worker_exit=ingest.worker_exit
        )
        listener.start()
        started.append(listener)
        return listener

    yield start
    for listener in started:
        listener.stop()
