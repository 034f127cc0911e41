"""Property-based tests of the intake service (hypothesis): whatever comes in, it answers and stores whole.

For arbitrary bytes, mutated valid DICOM files, zips of either, and file names
that are not UTF-8, :func:`intake_sources` never raises: each file is accepted,
a duplicate, or rejected with a readable one-line reason; the batch is
recorded; and nothing is half-stored (every image row's files exist, and every
stored file belongs to an image row).
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases.models import Image, IntakeBatch
from cases.services.intake import IntakeReport, intake_sources
from tests.oncocore.imaging.conftest import build_dicom

pytestmark = pytest.mark.django_db

PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same examples every run: a failure here is reproducible
)
UNREADABLE = ("BytesIO", "object at", "\\x", "Traceback", "Error:")

# Names as a Linux file system hands them over: bytes, decoded with surrogate escapes.
names = st.binary(min_size=1, max_size=40).map(lambda raw: os.fsdecode(raw.replace(b"/", b"_")))


def _seed_dicom() -> bytes:
    pixels = (np.arange(16 * 16, dtype=np.uint16).reshape(16, 16) * 7) % 4096
    return build_dicom(pixels.astype(np.uint16), rescale=(1.0, -1024.0), window=(40.0, 400.0))


SEED = _seed_dicom()


@st.composite
def mutated_dicom(draw: st.DrawFn) -> bytes:
    """The seed file with a few bytes replaced, a slice cut out or repeated, or its tail dropped."""
    data = bytearray(SEED)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["replace", "delete", "duplicate", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "replace":
            data[at : at + 4] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif kind == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 16))]
        else:
            del data[at:]
    return bytes(data)


@st.composite
def zipped(draw: st.DrawFn) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for _ in range(draw(st.integers(0, 3))):
            name = draw(st.text(min_size=1, max_size=20))
            content = draw(st.one_of(st.binary(max_size=256), mutated_dicom()))
            zf.writestr(name, content)
    data = buf.getvalue()
    if draw(st.booleans()):  # and sometimes a damaged archive
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at + 8 :]
    return data


uploads = st.lists(
    st.tuples(names, st.one_of(st.binary(max_size=512), mutated_dicom(), zipped())), min_size=1, max_size=3
)


def _check(report: IntakeReport, media_dir: Path) -> None:
    assert report.items, "every upload yields at least one item"
    for item in report.items:
        item.name.encode("utf-8")  # what every page, JSON column, audit row and log does with it
        assert item.status in ("accepted", "duplicate", "rejected")
        if item.status != "accepted":
            assert item.reason.strip() and item.reason.isprintable(), item
            assert not [bad for bad in UNREADABLE if bad in item.reason], item.reason
    assert IntakeBatch.objects.filter(pk=report.batch_id).exists()
    _assert_nothing_half_stored(media_dir)


def _assert_nothing_half_stored(media_dir: Path) -> None:
    on_disk = {p.relative_to(media_dir).as_posix() for p in media_dir.rglob("*") if p.is_file()}
    referenced: set[str] = set()
    for image in Image.objects.all():
        for field in (image.file, image.display, image.thumbnail):
            referenced.add(field.name)
    assert referenced <= on_disk, f"rows without files: {sorted(referenced - on_disk)}"
    prefixes = set(Image.objects.values_list("storage_prefix", flat=True))
    orphans = {
        name for name in on_disk if name.startswith("images/") and name.rsplit("/", 1)[0] not in prefixes
    }
    assert not orphans, f"files without rows: {sorted(orphans)}"


@PROPERTY_SETTINGS
@given(batch=uploads)
def test_intake_answers_every_upload_and_stores_nothing_half(batch, site, radiologist, media_dir):
    report = intake_sources(uploads=batch, site=site, user=radiologist, source="web")
    _check(report, media_dir)


@PROPERTY_SETTINGS
@given(data=mutated_dicom(), name=names)
def test_a_mutated_dicom_file_is_accepted_or_refused_with_a_reason(data, name, site, radiologist, media_dir):
    report = intake_sources(uploads=[(name, data)], site=site, user=radiologist, source="cli")
    _check(report, media_dir)
