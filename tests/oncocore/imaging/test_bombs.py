"""Issue 24 items 1 and 6: decompression bombs are refused before they are decoded or inflated.

Each syntax's bomb (tests/oncocore/imaging/bombs.py) says 64 x 64 in its header
around a 512 x 512 codestream; before the fix the JPEG, JPEG-LS and RLE ones
were accepted (decoded at the codestream's size, then cut to the header's).
Every decode path refuses them with the same reason, and the honest twin of
each (codestream as large as the header) still goes through.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tracemalloc
import zipfile

import pytest

from oncocore.decode import decode_local_file, dicom_model_input
from oncocore.imaging import (
    DeidOptions,
    Limits,
    Prepared,
    Rejected,
    SourceFile,
    SourceRejected,
    expand_upload,
    prepare,
)
from oncocore.imaging.archive import _Budget, _read_entry, _ZipBomb
from oncocore.imaging.dicom_pixels import frame_values
from oncocore.imaging.pixels import dicom_frame_pixels
from oncocore.preprocessing import PreprocessSpec

from . import bombs
from .conftest import REPO_ROOT, TEST_KEY

BOMB_REASON = "frame 1: {kind} codestream is 512 x 512, the header says 64 x 64"
# Their codestreams are forged (no encoder writes them): only the bomb, no honest twin, decodes.
FORGED = {"JPEG lossless", "JPEG-LS LSE oversize"}


def _prepare(data: bytes, limits: Limits | None = None) -> Prepared:
    return prepare(
        SourceFile("bomb.dcm", data), limits=limits or Limits(), deid=DeidOptions(), pseudonym_key=TEST_KEY
    )


@pytest.mark.parametrize("name", list(bombs.CODESTREAMS))
def test_a_codestream_larger_than_its_header_is_refused_at_intake(name):
    with pytest.raises(Rejected) as exc:
        _prepare(bombs.codestream_bomb(name))
    assert exc.value.reason == BOMB_REASON.format(kind=bombs.KIND[name])


@pytest.mark.parametrize("name", [n for n in bombs.CODESTREAMS if n not in FORGED])
def test_its_honest_twin_is_accepted(name):
    prepared = _prepare(bombs.codestream_bomb(name, header=64, stream=64))
    assert (prepared.rows, prepared.cols) == (64, 64)


def test_the_reason_says_when_the_codestream_is_over_the_pixel_limit_too():
    with pytest.raises(Rejected) as exc:
        _prepare(bombs.codestream_bomb("JPEG-LS"), Limits(max_pixels_per_frame=100_000))
    assert exc.value.reason == BOMB_REASON.format(kind="JPEG-LS") + " (over the 0.1-megapixel limit)"


def test_a_codestream_with_more_components_than_samples_is_refused():
    colour = bombs.dicom_file([bombs.j2k(64)], bombs.JPEG2000Lossless, rows=64, cols=64, samples=3)
    with pytest.raises(Rejected) as exc:
        _prepare(colour)
    assert (
        exc.value.reason
        == "frame 1: JPEG 2000 codestream has 1 components, the header says 3 samples per pixel"
    )


def test_the_bomb_in_a_later_frame_is_named_and_only_its_frame_is_refused_on_its_own():
    frames = [bombs.jpeg_ls(64), bombs.jpeg_ls(64), bombs.jpeg_ls(512)]
    data = bombs.dicom_file(frames, bombs.JPEGLSLossless, rows=64, cols=64)
    with pytest.raises(
        Rejected, match=r"^frame 3: JPEG-LS codestream is 512 x 512, the header says 64 x 64$"
    ):
        _prepare(data)
    assert dicom_frame_pixels(data, frame=0).rows == 64  # the viewer checks the frame it decodes
    with pytest.raises(Rejected, match=r"^frame 3: JPEG-LS codestream is 512 x 512"):
        dicom_frame_pixels(data, frame=2)


def test_every_decode_path_refuses_the_bomb(tmp_path):
    """The viewer's frame endpoint, the model's decoder and the CLI try-out all check first."""
    data = bombs.codestream_bomb("JPEG-LS 16-bit")
    reason = BOMB_REASON.format(kind="JPEG-LS")
    with pytest.raises(Rejected, match=f"^{reason}$"):
        dicom_frame_pixels(data, frame=0)
    with pytest.raises(Rejected, match=f"^{reason}$"):
        frame_values(data)
    spec = PreprocessSpec()
    with pytest.raises(ValueError, match=f"^{reason}$"):
        dicom_model_input(data, frame=None, spec=spec)
    path = tmp_path / "bomb.dcm"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=f"^{reason}$"):
        decode_local_file(path, spec)


def test_rle_segments_that_expand_past_the_frame_are_refused():
    for data in (bombs.rle_bomb(), bombs.rle_bomb(fallback=True)):
        with pytest.raises(Rejected) as exc:
            _prepare(data)
        assert exc.value.reason == "frame 1: RLE segment 1 expands past the 64 x 64 the header says"
    honest = bombs.dicom_file(
        [bombs.rle_frame([bombs.rle_repeats(64 * 64)])], bombs.RLELossless, rows=64, cols=64
    )
    assert _prepare(honest).rows == 64


def test_rle_segment_count_must_match_the_samples():
    frame = bombs.rle_frame([bombs.rle_repeats(64 * 64)] * 2)
    with pytest.raises(Rejected) as exc:
        _prepare(bombs.dicom_file([frame], bombs.RLELossless, rows=64, cols=64))
    assert exc.value.reason == "frame 1: RLE data has 2 segments, the header's 1 x 8-bit samples need 1"


def test_the_rle_bomb_pydicom_would_expand_in_python_costs_no_memory():
    """Before the fix pydicom's pure-Python RLE fallback expanded the 32 MiB segment (tracemalloc: 34 MiB)."""
    data = bombs.rle_bomb(expands_to=32 * 1024 * 1024, fallback=True)  # 513 KiB
    tracemalloc.start()
    try:
        with pytest.raises(Rejected):
            _prepare(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024


_RSS_CHILD = """
import sys
sys.path.insert(0, sys.argv[2])
from oncocore.imaging import DeidOptions, Limits, Rejected, SourceFile, prepare
data = open(sys.argv[1], "rb").read()
def status_kib(field):
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field + ":"))
with open("/proc/self/clear_refs", "w") as fh:  # reset the peak: importing peaks above what stays
    fh.write("5")
before = status_kib("VmRSS")
try:
    prepare(SourceFile("bomb.dcm", data), limits=Limits(), deid=DeidOptions(), pseudonym_key=b"k")
    print("accepted", end=" ")
except Rejected as exc:
    print("rejected", end=" ")
print(status_kib("VmHWM") - before)
"""


def test_peak_memory_of_preparing_a_jpeg_ls_bomb_stays_flat(tmp_path):
    """In a fresh process, a 1.3 KB file whose stream is 4096 x 4096 x 16 bits (32 MiB decoded).

    Before the fix the process's peak RSS grew by more than 32 MiB and the file was
    accepted; now the codestream header refuses it and the peak does not move.
    """
    path = tmp_path / "bomb.dcm"
    path.write_bytes(bombs.codestream_bomb("JPEG-LS 16-bit", stream=4096))
    run = subprocess.run(
        [sys.executable, "-c", _RSS_CHILD, str(path), str(REPO_ROOT)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    outcome, grew_kib = run.stdout.split()
    assert int(grew_kib) < 8 * 1024, f"peak RSS grew by {int(grew_kib) / 1024:.0f} MiB"
    assert outcome == "rejected"


# --- Deflated datasets --------------------------------------------------------------------------


def test_a_deflated_dataset_past_the_floor_is_held_to_the_zip_ratio():
    data = bombs.deflated_bomb(8)  # 8 MiB of zero frames in about 9 KiB
    assert _prepare(data).frames == 8  # under the 64 MiB floor: inflated, whatever the ratio
    with pytest.raises(Rejected) as exc:
        _prepare(data, Limits(deflate_ratio_floor=1024 * 1024))
    assert exc.value.reason.startswith("deflated dataset of ")
    assert exc.value.reason.endswith("(over 200:1, possible decompression bomb)")


# --- Zips ---------------------------------------------------------------------------------------


def test_overlapping_zip_entries_are_refused_before_anything_is_inflated():
    """16 directory entries, one 2 MiB local entry (about 50:1): before the fix, 16 files of 2 MiB came out."""
    data = bombs.overlapping_zip()
    items = list(expand_upload("bomb.zip", data, Limits()))
    assert items == [
        SourceRejected(
            "bomb.zip",
            "zip entries #1 and #2 overlap (they share compressed data: a zip-bomb technique)",
        )
    ]


def test_the_zip_ratio_is_measured_against_the_archive_not_what_its_entries_claim(monkeypatch):
    """Without the overlap rule the same zip is still refused: 32 MiB from 42 KiB is over 200:1."""
    import oncocore.imaging.archive as archive

    monkeypatch.setattr(archive, "_overlapping", lambda infos: None)
    items = list(expand_upload("bomb.zip", bombs.overlapping_zip(), Limits()))
    assert len(items) == 1 and isinstance(items[0], SourceRejected) and items[0].name == "bomb.zip"
    assert items[0].reason.startswith("zip expands ") and "possible zip bomb" in items[0].reason


def test_what_is_actually_inflated_is_counted_across_entries_and_stops_at_the_limit():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.dcm", b"\x01" * 3000)
        archive.writestr("b.dcm", b"\x02" * 3000)
    zf = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    budget = _Budget(limit=5000)
    assert len(_read_entry(zf, zf.getinfo("a.dcm"), Limits(), budget)) == 3000
    with pytest.raises(_ZipBomb, match=r"zip inflates past 4.9 KiB .*stopped at entry #2"):
        _read_entry(zf, zf.getinfo("b.dcm"), Limits(), budget)
    assert budget.used <= 5001  # it read one byte past the limit, no more


def test_an_honest_zip_still_expands(make_dicom):
    import numpy as np

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for n in range(3):
            archive.writestr(f"study/{n}.dcm", make_dicom(np.full((32, 32), n, np.int16)))
        archive.writestr("study/empty/", b"")
    items = list(expand_upload("study.zip", buffer.getvalue(), Limits()))
    assert [i.name for i in items] == ["study/0.dcm", "study/1.dcm", "study/2.dcm"]
    assert all(isinstance(i, SourceFile) for i in items)
