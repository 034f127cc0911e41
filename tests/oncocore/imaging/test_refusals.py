"""Intake refusals (issue 24 item 7): names, special files, NaN rescale, PK preambles, readable reasons."""

from __future__ import annotations

import io
import os
import signal
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset

from oncocore.imaging import DeidOptions, Limits, Prepared, Rejected, SourceFile, SourceRejected, prepare
from oncocore.imaging.archive import archive_kind, expand_upload
from oncocore.imaging.disk import expand_path
from oncocore.imaging.errors import file_value, readable
from oncocore.imaging.names import display_name

from . import bombs
from .conftest import TEST_KEY, build_dicom

LIMITS = Limits()


def _prepare(data: bytes, name: str = "x.dcm") -> Prepared:
    return prepare(SourceFile(name, data), limits=LIMITS, deid=DeidOptions(), pseudonym_key=TEST_KEY)


def _ct(**kwargs: object) -> bytes:
    return build_dicom(np.arange(64 * 64, dtype=np.int16).reshape(64, 64), **kwargs)  # type: ignore[arg-type]


# --- Names ---------------------------------------------------------------------------------------

SURROGATE_NAME = os.fsdecode(
    b"caf\xe9-\xff\xfe/IM0001.dcm"
)  # Latin-1 bytes on a UTF-8 Linux: 'caf\udce9-...'


def test_a_surrogate_escaped_name_gets_a_display_form_that_encodes():
    shown = display_name(SURROGATE_NAME)
    assert (
        shown == "caf\N{REPLACEMENT CHARACTER}-\N{REPLACEMENT CHARACTER}\N{REPLACEMENT CHARACTER}/IM0001.dcm"
    )
    shown.encode("utf-8")  # what templates, JSON columns, audit rows and log files do
    # Escaped bytes that are valid UTF-8 come back as their characters; valid names are untouched.
    assert display_name(os.fsdecode("Résumé.dcm".encode())) == "Résumé.dcm"
    assert display_name(b"\xffa\x00b\nc") == "\N{REPLACEMENT CHARACTER}ab c"
    assert display_name("x" * 300).startswith("…") and len(display_name("x" * 300)) == 255


def test_every_source_the_intake_sees_carries_the_display_name():
    assert SourceFile(SURROGATE_NAME, b"").name.encode("utf-8")
    assert SourceRejected(SURROGATE_NAME, "why").name.encode("utf-8")
    [item] = expand_upload(SURROGATE_NAME, b"not an image", LIMITS)
    assert item.name == display_name(SURROGATE_NAME)


def test_a_folder_with_non_utf8_names_expands_to_displayable_names(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    inner = os.fsencode(folder) + b"/s\xe9rie"
    os.mkdir(inner)
    with open(inner + b"/\xff.dcm", "wb") as fh:
        fh.write(_ct())
    with zipfile.ZipFile(folder / "a.zip", "w") as zf:
        zf.writestr("ok.dcm", _ct())
    names = sorted(item.name for item in expand_path(folder, LIMITS))
    assert names == ["a.zip/ok.dcm", "s\N{REPLACEMENT CHARACTER}rie/\N{REPLACEMENT CHARACTER}.dcm"]


# --- Special files on disk -------------------------------------------------------------------------


@pytest.fixture
def no_hang() -> Iterator[None]:
    """Turns a hang (the old behaviour on a FIFO) into a failure instead of a stuck suite."""

    def fail(*_: object) -> None:
        raise AssertionError("reading the folder blocked (it opened a FIFO or a device)")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _special_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.dcm").write_bytes(_ct())
    os.mkfifo(folder / "pipe.dcm")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(folder / "sock.dcm"))
    os.symlink("/dev/zero", folder / "zero.dcm")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.dcm").write_bytes(_ct())
    os.symlink(outside, folder / "linked")
    return folder


def test_fifos_sockets_devices_and_links_are_refused_without_being_opened(tmp_path, no_hang):
    folder = _special_folder(tmp_path)
    items = {item.name: item for item in expand_path(folder, LIMITS)}
    assert isinstance(items["good.dcm"], SourceFile)
    reasons = {name: item.reason for name, item in items.items() if isinstance(item, SourceRejected)}
    assert reasons == {
        "pipe.dcm": "not a regular file (a named pipe (FIFO)): skipped",
        "sock.dcm": "not a regular file (a socket): skipped",
        "zero.dcm": "symbolic link: skipped",
        "linked": "symbolic link: skipped",  # a link to a folder out of the tree: named, not walked
    }
    assert not any("secret" in name for name in items)


def test_a_fifo_or_device_given_directly_is_refused(tmp_path, no_hang):
    os.mkfifo(tmp_path / "pipe")
    [fifo] = expand_path(tmp_path / "pipe", LIMITS)
    assert isinstance(fifo, SourceRejected) and "named pipe" in fifo.reason
    [device] = expand_path(Path("/dev/zero"), LIMITS)
    assert isinstance(device, SourceRejected) and device.reason == (
        "not a regular file (a character device): skipped"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_file_is_refused_with_one_line(tmp_path):
    locked = tmp_path / "locked.dcm"
    locked.write_bytes(_ct())
    locked.chmod(0)
    [item] = expand_path(locked, LIMITS)
    assert isinstance(item, SourceRejected) and item.reason == "cannot read file: permission denied"


# --- Rescale and window values ------------------------------------------------------------------


@pytest.mark.parametrize(
    "rescale",
    [("NaN", "0"), ("inf", "-1024"), ("1", "NaN"), ("1", "-inf")],
    ids=["nan-slope", "inf-slope", "nan-intercept", "inf-intercept"],
)
def test_a_rescale_that_is_not_a_finite_number_is_refused(rescale):
    data = _ct(rescale=None, extra=lambda ds: _set_rescale(ds, *rescale))
    with pytest.raises(Rejected) as exc:
        _prepare(data)
    label = "Rescale Slope" if rescale[0] != "1" else "Rescale Intercept"
    assert exc.value.reason.startswith(f"invalid {label}: “")
    assert "is not a finite number" in exc.value.reason


def test_a_nan_rescale_in_a_functional_group_is_refused_too():
    def per_frame(ds: Dataset) -> None:
        item = Dataset()
        item.RescaleSlope, item.RescaleIntercept = "NaN", "0"
        group = Dataset()
        group.PixelValueTransformationSequence = [item]
        ds.SharedFunctionalGroupsSequence = [group]

    with pytest.raises(Rejected, match="invalid Rescale Slope"):
        _prepare(_ct(extra=per_frame))


def test_a_nan_window_is_treated_as_absent():
    prepared = _prepare(_ct(extra=lambda ds: _set_window(ds, "NaN", "inf")))
    assert prepared.window is not None and all(np.isfinite(prepared.window))


def _set_rescale(ds: Dataset, slope: str, intercept: str) -> None:
    ds.add_new(0x00281053, "DS", slope)
    ds.add_new(0x00281052, "DS", intercept)


def _set_window(ds: Dataset, center: str, width: str) -> None:
    ds.add_new(0x00281050, "DS", center)
    ds.add_new(0x00281051, "DS", width)


# --- PK preambles and polyglots ---------------------------------------------------------------------


def _with_preamble(data: bytes, preamble: bytes) -> bytes:
    return preamble.ljust(128, b"\x00")[:128] + data[128:]


def test_a_dicom_file_whose_preamble_begins_with_pk_is_read_as_dicom():
    data = _with_preamble(_ct(), b"PK\x03\x04 not a zip")
    assert archive_kind(data) is None
    [item] = expand_upload("pk.dcm", data, LIMITS)
    assert isinstance(item, SourceFile)
    assert _prepare(data).kind == "dicom"


def test_a_real_zip_is_still_a_zip():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("inner.dcm", _ct())
    assert archive_kind(buf.getvalue()) == "zip"
    assert [item.name for item in expand_upload("a.zip", buf.getvalue(), LIMITS)] == ["inner.dcm"]


def test_a_dicom_zip_polyglot_is_read_as_dicom():
    """A zip with its central directory after a DICOM file is both: the DICM marker wins."""
    dicom = _with_preamble(_ct(), b"PK\x03\x04")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("hidden.dcm", _ct())
    polyglot = dicom + buf.getvalue()
    assert zipfile.is_zipfile(io.BytesIO(polyglot))
    [item] = expand_upload("both.dcm", polyglot, LIMITS)
    assert isinstance(item, SourceFile) and item.name == "both.dcm"


# --- Deflate bombs (verifies the check on main) -------------------------------------------------


def test_a_300_mib_deflated_dataset_is_refused():
    with pytest.raises(Rejected) as exc:
        _prepare(bombs.deflated_bomb(300))
    assert exc.value.reason.startswith("deflated dataset of ")
    assert "possible decompression bomb" in exc.value.reason


# --- Readable reasons ------------------------------------------------------------------------------

# What must never reach a radiologist: reprs, bytes literals, escapes, exception class names.
UNREADABLE = ("<", ">", "b'", 'b"', "BytesIO", "\\x", "\\u", "0x7f", "Error:", "Exception", "object at")


def _bad_inputs() -> dict[str, bytes]:
    ct = _ct()
    empty_zip = io.BytesIO()
    zipfile.ZipFile(empty_zip, "w").close()
    junk_zip = io.BytesIO()
    with zipfile.ZipFile(junk_zip, "w") as zf:
        zf.writestr("__MACOSX/._a", b"x")
        zf.writestr("sub/", b"")
    bad_entry = io.BytesIO()
    with zipfile.ZipFile(bad_entry, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.dcm", ct)
    corrupt_entry = bytearray(bad_entry.getvalue())
    corrupt_entry[40:80] = b"\xff" * 40
    return {
        "empty zip": empty_zip.getvalue(),
        "zip of junk only": junk_zip.getvalue(),
        "corrupt zip": b"PK\x03\x04" + b"\x00\xff" * 40,
        "corrupt zip entry": bytes(corrupt_entry),
        "bad pillow image": b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + b"\xff" * 40,
        "bad tiff": b"II*\x00" + b"\xff\xfe" * 40,
        "truncated dicom header": ct[:200],
        "garbled dicom header": ct[:300] + b"\xff\xfe\x00\x01" * 30 + ct[420:],
        "bytes in a UID": build_dicom(
            np.zeros((8, 8), np.uint8), extra=lambda ds: ds.add_new(0x00080018, "UI", "1.2\x01\xff.3")
        ),
        "bytes in Rows": ct.replace(
            b"\x28\x00\x10\x00US\x02\x00\x40\x00", b"\x28\x00\x10\x00IS\x02\x00\xff\x01"
        ),
        "corrupt deflate": _corrupt_deflate(),
        "text": b"hello \x00\xff\xfe world",
        "nan rescale": _ct(rescale=None, extra=lambda ds: _set_rescale(ds, "NaN", "0")),
    }


def _corrupt_deflate() -> bytes:
    data = bytearray(bombs.deflated_bomb(1))
    data[-600:-500] = b"\xff" * 100
    return bytes(data)


def _reasons_for(name: str, data: bytes) -> list[str]:
    reasons = []
    for item in expand_upload(name, data, LIMITS):
        if isinstance(item, SourceRejected):
            reasons.append(item.reason)
            continue
        try:
            _prepare(item.data, item.name)
        except Rejected as exc:
            reasons.append(exc.reason)
    return reasons


@pytest.mark.parametrize("case", sorted(_bad_inputs()))
def test_every_reason_is_a_sentence_without_reprs_or_raw_bytes(case):
    reasons = _reasons_for(case, _bad_inputs()[case])
    assert reasons, f"{case}: no reason at all"
    for reason in reasons:
        assert reason.strip() and reason.isprintable(), reason
        assert not [bad for bad in UNREADABLE if bad in reason], reason


def test_an_empty_zip_says_it_holds_no_files():
    for case in ("empty zip", "zip of junk only"):
        assert _reasons_for(case, _bad_inputs()[case]) == [
            "the zip holds no files (only folders, hidden or system files)"
        ]


def test_the_safety_net_under_every_reason():
    assert readable("cannot identify image file <_io.BytesIO object at 0x7f3a2b>") == (
        "cannot identify image file the file"
    )
    assert readable("got b'\\x00\\x01' in tag") == "got (binary data) in tag"
    assert (
        Rejected("value \\xff\x00 <b>").reason
        == "value ? \N{SINGLE LEFT-POINTING ANGLE QUOTATION MARK}b\N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK}"
    )
    assert file_value(b"\x00\xff1.2<3>") == "“??1.2?3?”"


def test_every_sample_files_reason_is_readable(manifest_row, prepare_sample):
    """The 225 real files, the deliberately broken ones included: every refusal reads as a sentence."""
    if manifest_row is None:
        prepare_sample("missing")  # skips (or fails under ONCOPORTAL_REQUIRE_SERVICES=1)
    outcome = prepare_sample(manifest_row["file"])
    if isinstance(outcome, Rejected):
        assert not [bad for bad in UNREADABLE if bad in outcome.reason], outcome.reason
