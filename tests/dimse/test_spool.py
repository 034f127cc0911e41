"""The spool's write: complete files only, forced to disk only when configured."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dimse import spool as spool_module
from dimse.ingest import listener_config
from dimse.spool import Spool


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(spool_module.os, "fsync", counting)
    return calls


def test_a_plain_write_is_complete_and_not_forced_to_disk(tmp_path: Path, fsyncs: list[int]) -> None:
    path = Spool(tmp_path).write("assoc", "1.2.3", "1.2.3.4", b"DICM data")
    assert path == tmp_path / "assoc" / "1.2.3" / "1.2.3.4.dcm"
    assert path.read_bytes() == b"DICM data"
    assert [p.name for p in path.parent.iterdir()] == ["1.2.3.4.dcm"]  # no .part left
    assert fsyncs == []


def test_with_fsync_each_file_is_forced_to_disk_before_it_gets_its_name(
    tmp_path: Path, fsyncs: list[int]
) -> None:
    spool = Spool(tmp_path, fsync=True)
    spool.write("assoc", "1.2.3", "1.2.3.4", b"one")
    spool.write("assoc", "1.2.3", "1.2.3.5", b"two")
    assert len(fsyncs) == 2


def test_the_listener_takes_fsync_from_the_settings(settings) -> None:
    settings.DICOM_SPOOL_FSYNC = True
    assert listener_config().spool_fsync is True
    settings.DICOM_SPOOL_FSYNC = False
    assert listener_config().spool_fsync is False
