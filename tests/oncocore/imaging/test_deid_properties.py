"""Property-based tests (hypothesis): whatever a dataset holds, de-identification leaves no canary.

Datasets are generated with a canary string in random attributes: ones the
profile removes, empties or replaces, attributes the data dictionary does not
know (even groups, any VR), private blocks, person names, nested sequences,
and text in the compressed frames (JPEG COM/APPn, JPEG 2000 COM). Only
attributes the profile keeps by design (Rows, Modality, ...) never receive a
canary: keeping them is the profile.
"""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from oncocore.imaging import DeidOptions, deidentify
from oncocore.imaging.deid_table import action_plan
from oncocore.imaging.frame_metadata import strip_jpeg_frame

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # canaries longer than SH/CS allow

_TEXT_VRS = ("LO", "SH", "LT", "ST", "UT", "PN", "UC")

# Attributes Table E.1-1 acts on (anything but keep), with a text VR: a canary put there must go.
_PLAN = action_plan(DeidOptions().option_columns())
_ACTED_ON = sorted(
    tag
    for tag, action in _PLAN.exact.items()
    if action != "K" and keyword_for_tag(tag) and dictionary_VR(tag) in _TEXT_VRS
)

canaries = st.text(alphabet="ABCDEFGHJKMNPQRSTUVWXYZ", min_size=6, max_size=12).map(lambda s: f"CANARY{s}")
options = st.builds(DeidOptions, st.just(True), st.booleans(), st.booleans(), st.booleans())
unknown_tags = st.builds(
    lambda group, element: (group << 16) | element,
    st.sampled_from([0x0008, 0x0010, 0x0018, 0x0020, 0x0032, 0x0040]),
    st.integers(0x0001, 0xFFFF),
).filter(lambda tag: keyword_for_tag(tag) == "" and _PLAN.action_for(tag) is None)
private_groups = st.integers(0x0009, 0x00FF).filter(lambda g: g % 2 == 1)


@st.composite
def datasets(draw) -> tuple[Dataset, str]:
    canary = draw(canaries)
    ds = Dataset()
    ds.SOPInstanceUID = "1.2.3.4.5"
    ds.Modality = "CT"
    ds.Rows, ds.Columns = 2, 2
    for tag in draw(st.lists(st.sampled_from(_ACTED_ON), min_size=1, max_size=12, unique=True)):
        ds.add_new(tag, dictionary_VR(tag), canary)
    for tag in draw(st.lists(unknown_tags, max_size=4, unique=True)):
        ds.add_new(tag, draw(st.sampled_from((*_TEXT_VRS, "CS", "UN"))), canary)
    for group in draw(st.lists(private_groups, max_size=3, unique=True)):
        block = ds.private_block(group, f"VENDOR {canary}", create=True)
        block.add_new(0x01, draw(st.sampled_from(_TEXT_VRS)), canary)
    if draw(st.booleans()):  # a person name the table does not list, nested in a sequence the profile keeps
        item = Dataset()
        item.add_new(0x00400006, "PN", canary)  # Scheduled Performing Physician's Name
        item.add_new(0x00100099, "LO", canary)  # unknown to the dictionary
        ds.add_new(0x00081140, "SQ", Sequence([item]))  # Referenced Image Sequence (U under the profile)
    ds.PatientID = canary
    ds.PatientName = canary
    return ds, canary


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datasets(), options)
def test_no_canary_survives_de_identification(generated, opts):
    ds, canary = generated
    deidentify(ds, pseudonym="PAAAAAAAAAAAA", options=opts)
    buf = io.BytesIO()
    ds.save_as(buf, implicit_vr=False, little_endian=True)
    assert canary.encode() not in buf.getvalue()
    for elem in ds.iterall():
        assert canary not in str(elem.value)
    assert ds.PatientID == "PAAAAAAAAAAAA" and ds.Modality == "CT" and ds.Rows == 2  # kept what it must


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from([0xFE, *range(0xE1, 0xF0)]), canaries), min_size=1, max_size=6),
    st.integers(0, 255),
    st.integers(0, 3),
)
def test_no_canary_survives_in_jpeg_frames_and_pixels_stay(segments, seed, where):
    """Random COM/APPn canaries at random places before the scan; the frame decodes to the same pixels."""
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 255, (16, 16), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=90)
    frame = buf.getvalue()
    # Cut points between marker segments: right after SOI, or just before DQT/SOF/DHT/SOS.
    cuts = [2, *(frame.index(m) for m in (b"\xff\xdb", b"\xff\xc0", b"\xff\xc4", b"\xff\xda"))]
    at = cuts[min(where, len(cuts) - 1)]
    inserted = b"".join(
        bytes((0xFF, marker)) + (len(c) + 2).to_bytes(2, "big") + c.encode() for marker, c in segments
    )
    tagged = frame[:at] + inserted + frame[at:]
    out, removed = strip_jpeg_frame(tagged)
    assert removed >= len(segments)
    assert not any(c.encode() in out for _, c in segments)
    before = np.asarray(Image.open(io.BytesIO(tagged)))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(out))), before)


def test_the_strategy_reaches_every_acted_on_text_attribute():
    """The sample space is the profile's: every text attribute it removes, empties or replaces."""
    assert len(_ACTED_ON) > 100
    assert 0x00100010 in _ACTED_ON and 0x00081030 in _ACTED_ON  # Patient's Name, Study Description
    assert pydicom.datadict.keyword_for_tag(0x00100099) == ""


def _j2k_boundaries(stream: bytes) -> list[int]:
    """Offsets between the main header's marker segments (after SIZ up to the first SOT)."""
    cuts, pos = [], 2
    while stream[pos : pos + 2] != b"\xff\x90":
        pos += 2 + int.from_bytes(stream[pos + 2 : pos + 4], "big")
        cuts.append(pos)
    return cuts


@settings(max_examples=50, deadline=None)
@given(st.lists(canaries, min_size=1, max_size=4), st.integers(0, 255), st.integers(0, 7), st.booleans())
def test_no_canary_survives_in_j2k_frames_and_pixels_stay(texts, seed, where, in_tile):
    """Random COM canaries in a JPEG 2000 main header (any boundary) or tile-part header; same pixels."""
    import openjpeg
    from openjpeg.utils import encode_array

    from oncocore.imaging.j2k_metadata import strip_j2k_frame

    pixels = np.random.default_rng(seed).integers(0, 255, (32, 32), dtype=np.uint8)
    stream = encode_array(pixels)
    inserted = b"".join(
        b"\xff\x64" + (len(c) + 4).to_bytes(2, "big") + b"\x00\x01" + c.encode() for c in texts
    )
    if in_tile:  # right after SOT, Psot grown to match
        sot = stream.index(b"\xff\x90\x00\x0a")
        psot = int.from_bytes(stream[sot + 6 : sot + 10], "big")
        grown = (psot + len(inserted) if psot else 0).to_bytes(4, "big")
        tagged = stream[: sot + 6] + grown + stream[sot + 10 : sot + 12] + inserted + stream[sot + 12 :]
    else:
        cuts = _j2k_boundaries(stream)
        at = cuts[min(where, len(cuts) - 1)]
        tagged = stream[:at] + inserted + stream[at:]
    assert np.array_equal(openjpeg.decode(tagged), pixels)
    out, removed = strip_j2k_frame(tagged)
    assert removed >= len(texts)
    assert not any(c.encode() in out for c in texts)
    assert np.array_equal(openjpeg.decode(out), pixels)
