"""prepare() over EVERY file of the sample DICOM manifest.

Each row either prepares into a Prepared whose geometry matches the manifest, or
is rejected with a one-line reason; nothing else may escape. Where our outcome
differs from the manifest's own decode column, the file is listed below with
the reason, so a change in behaviour shows up as a test failure.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pydicom
import pytest
from PIL import Image

from oncocore.imaging import Prepared, Rejected
from oncocore.imaging.frame_metadata import strip_frame_metadata

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom, on the malformed samples

# The manifest decodes these, but they lack Study/Series Instance UID, which the
# intake service keys on: rejected by policy.
REJECTED_BY_POLICY = {
    "pydicom/JPEGLSNearLossless_08.dcm": "missing required UIDs: Study Instance UID, Series Instance UID",
    "pydicom/JPEGLSNearLossless_16.dcm": "missing required UIDs: Study Instance UID, Series Instance UID",
    "pydicom/SC_rgb_jls_lossy_line.dcm": "missing required UIDs: Study Instance UID, Series Instance UID",
    "pydicom/SC_rgb_jls_lossy_sample.dcm": "missing required UIDs: Study Instance UID, Series Instance UID",
}

# The manifest fails to decode these; we do better, so we check the result is sane instead.
DECODED_DESPITE_MANIFEST = {
    # GDCM's 12-bit IJG codec (our fallback plugin) reads the known-bad stream.
    "pydicom/JPEG-lossy.dcm": "gdcm 12-bit JPEG",
    # No file meta at all: we derive the transfer syntax from how the dataset parsed.
    "pydicom-data/OT-PAL-8-face.dcm": "derived transfer syntax",
}


def _manifest_ts(row: dict[str, str]) -> str | None:
    text = row["transfer_syntax"]
    return None if text.startswith("none") else text.split(" ")[0]


def _assert_one_line_reason(exc: Rejected) -> None:
    assert isinstance(exc.reason, str) and exc.reason.strip(), "empty rejection reason"
    assert "\n" not in exc.reason and len(exc.reason) <= Rejected.MAX_REASON_CHARS


def _assert_prepared_matches(row: dict[str, str], p: Prepared) -> None:
    assert p.kind == "dicom" and p.stored_ext == ".dcm"
    assert (p.rows, p.cols, p.frames) == (int(row["rows"]), int(row["cols"]), int(row["frames"]))
    assert p.samples_per_pixel == int(row["spp"])
    assert p.photometric == row["photometric"]
    assert len(p.display_pngs) == p.frames
    for png in (p.display_pngs[0], p.display_pngs[-1]):
        im = Image.open(io.BytesIO(png))
        assert max(im.size) <= 1024
        # Aspect ratio kept (within rounding of the downscale).
        assert abs(im.size[0] / im.size[1] - p.cols / p.rows) < 0.02 * max(1.0, p.cols / p.rows)
    json.dumps(p.header)  # JSON-serialisable for the UI
    assert not any("PixelData" in key for key in p.header)
    thumb = Image.open(io.BytesIO(p.thumbnail_png))
    assert max(thumb.size) == 160
    for uid in (p.study_instance_uid, p.series_instance_uid, p.sop_instance_uid, p.sop_class_uid):
        assert uid and len(uid) <= 64


def _assert_stored_file_faithful(row: dict[str, str], p: Prepared, data_path) -> None:
    """Stored file: Part 10 with meta, same transfer syntax, pixel data byte-identical."""
    path = data_path("dicom") / row["file"]
    original = pydicom.dcmread(path, force=True)
    stored = pydicom.dcmread(io.BytesIO(p.stored_bytes))
    assert p.stored_bytes[128:132] == b"DICM"
    expected_ts = _manifest_ts(row)
    if expected_ts:
        assert stored.file_meta.TransferSyntaxUID == expected_ts == p.transfer_syntax_uid
    keyword = next(k for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData") if k in original)
    if stored[keyword].value != original[keyword].value:
        # Only COM/APPn segments inside JPEG frames may go (a scanner's comment), the frames
        # re-encapsulated; the image data and so the decoded pixels stay the same.
        assert strip_frame_metadata(original, str(stored.file_meta.TransferSyntaxUID)) > 0
        assert stored[keyword].value == original[keyword].value, "pixel data must be stored untouched"
        if row["decode"].startswith("ok"):
            assert np.array_equal(stored.pixel_array, original.pixel_array)
    assert stored.SOPInstanceUID == original.SOPInstanceUID  # Retain UIDs
    assert stored.PatientIdentityRemoved == "YES"


def test_manifest_file(manifest_row, prepare_sample, data_path):
    row = manifest_row or {"file": data_path("dicom/MANIFEST.tsv").name}
    outcome = prepare_sample(row["file"])
    manifest_ok = row["decode"].startswith("ok")

    if row["file"] in REJECTED_BY_POLICY:
        assert isinstance(outcome, Rejected), f"expected rejection, got {outcome!r:.200}"
        assert outcome.reason == REJECTED_BY_POLICY[row["file"]]
    elif manifest_ok:
        assert isinstance(outcome, Prepared), f"rejected: {getattr(outcome, 'reason', outcome)}"
        _assert_prepared_matches(row, outcome)
        _assert_stored_file_faithful(row, outcome, data_path)
    elif row["file"] in DECODED_DESPITE_MANIFEST:
        assert isinstance(outcome, Prepared), f"rejected: {getattr(outcome, 'reason', outcome)}"
        _assert_prepared_matches(row, outcome)
        _assert_stored_file_faithful(row, outcome, data_path)
        # Sane render: a real picture, not a flat or saturated frame.
        img = np.asarray(Image.open(io.BytesIO(outcome.display_pngs[0])).convert("L"), dtype=np.float32)
        assert img.std() > 10 and 5 < img.mean() < 250
    else:
        assert isinstance(outcome, Rejected), f"manifest says {row['decode']!r}, but it prepared"
        _assert_one_line_reason(outcome)
        if row["has_pixels"] == "False":
            assert any(
                words in outcome.reason
                for words in ("no pixel data", "DICOMDIR", "not a DICOM file", "corrupt or truncated")
            ), outcome.reason
        if "truncated" in row["decode"] or "less than expected" in row["decode"]:
            assert outcome.reason.startswith("truncated pixel data: ")


def test_known_rejection_reasons(prepare_sample, data_path):
    """Spot-check the wording users will see for the deliberately broken files."""
    data_path("dicom/MANIFEST.tsv")
    expected = {
        "pydicom/MR_truncated.dcm": "truncated pixel data: 8130 of 8192 bytes",
        "pydicom/rtplan.dcm": "no pixel data (RT Plan Storage): only images can be ingested",
        "pydicom/badVR.dcm": "invalid Number of Frames: “1A” is not a whole number",
        "pydicom/dicomdirtests/DICOMDIR": "DICOMDIR index file skipped",
        "pydicom/dicomdirtests/README.txt": "not a DICOM file or a supported image (JPEG, PNG, TIFF)",
    }
    for relative, reason in expected.items():
        outcome = prepare_sample(relative)
        assert isinstance(outcome, Rejected) and outcome.reason == reason, (relative, outcome)
    corrupt = prepare_sample("pydicom/JPEG2000-embedded-sequence-delimiter.dcm")
    # Its corrupted SIZ marker is caught by the codestream check, before any decoder runs.
    assert isinstance(corrupt, Rejected)
    assert corrupt.reason.startswith("frame 1: JPEG 2000 codestream is "), corrupt.reason


def test_jpeg_extended_12bit_via_gdcm(prepare_sample, data_path):
    """JPGExtended.dcm (12-bit JPEG) decodes through our GDCM fallback plugin."""
    data_path("dicom/MANIFEST.tsv")
    extended, lossy = prepare_sample("pydicom/JPGExtended.dcm"), prepare_sample("pydicom/JPEG-lossy.dcm")
    assert isinstance(extended, Prepared) and isinstance(lossy, Prepared)
    stored = pydicom.dcmread(io.BytesIO(extended.stored_bytes))
    pixels = stored.pixel_array
    assert pixels.shape == (1024, 256) and pixels.max() > 100
    assert extended.display_pngs[0] == lossy.display_pngs[0]  # same image, same pixels
