"""Shared fixtures for the imaging package tests (no Django).

Sample data is read from ``$ONCOPORTAL_DATA_DIR`` (default ``<repo>/../shared/data``).
When it is missing the data-driven tests are skipped, unless
``ONCOPORTAL_REQUIRE_SERVICES=1``, in which case they fail.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian, generate_uid

REPO_ROOT = Path(__file__).resolve().parents[3]
if str(REPO_ROOT) not in sys.path:  # import oncocore.imaging without installing the project
    sys.path.insert(0, str(REPO_ROOT))

from oncocore.imaging import DeidOptions, Limits, Prepared, Rejected, SourceFile, prepare  # noqa: E402

DATA_DIR = Path(os.environ.get("ONCOPORTAL_DATA_DIR") or REPO_ROOT.parent / "shared" / "data")
REQUIRE_DATA = os.environ.get("ONCOPORTAL_REQUIRE_SERVICES") == "1"
TEST_KEY = b"test-pseudonym-key-not-for-production"


def require_data(relative: str = "") -> Path:
    """The sample data path, or skip (fail under ONCOPORTAL_REQUIRE_SERVICES=1) if absent."""
    path = DATA_DIR / relative
    if not path.exists():
        message = f"sample data not found at {path} (set ONCOPORTAL_DATA_DIR)"
        if REQUIRE_DATA:
            pytest.fail(message + " and ONCOPORTAL_REQUIRE_SERVICES=1")
        pytest.skip(message)
    return path


def manifest_rows() -> list[dict[str, str]]:
    manifest = DATA_DIR / "dicom" / "MANIFEST.tsv"
    if not manifest.exists():
        return []
    with manifest.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``manifest_row``: every row of dicom/MANIFEST.tsv; ``phi_row``: rows with a patient name."""
    rows = manifest_rows()
    for name, selected in (
        ("manifest_row", rows),
        ("phi_row", [r for r in rows if r["patient_name"] == "yes"]),
    ):
        if name in metafunc.fixturenames:
            # Without data, one placeholder case that skips (or fails when data is required).
            metafunc.parametrize(
                name, selected or [None], ids=[r["file"] for r in selected] or ["no-sample-data"]
            )


@pytest.fixture(autouse=True)
def _isolated_media():
    """No-op override of the project-wide autouse fixture of the same name in tests/conftest.py.

    That one isolates Django's media storage and needs pytest-django's ``settings``;
    these tests never touch Django, and must run with ``-p no:django`` too.
    """
    yield


@pytest.fixture(scope="session")
def data_path() -> Callable[[str], Path]:
    """``data_path('dicom/x.dcm')``: the sample data path, or skip/fail as :func:`require_data`."""
    return require_data


@pytest.fixture(scope="session")
def manifest(data_path) -> list[dict[str, str]]:
    """All rows of dicom/MANIFEST.tsv (skips/fails without sample data)."""
    data_path("dicom/MANIFEST.tsv")
    return manifest_rows()


@pytest.fixture(scope="session")
def pseudonym_key() -> bytes:
    """The key :func:`prepare_sample` uses."""
    return TEST_KEY


@pytest.fixture(scope="session")
def limits() -> Limits:
    return Limits()


@pytest.fixture(scope="session")
def deid_options() -> DeidOptions:
    return DeidOptions()


_PREPARED: dict[str, Prepared | Rejected] = {}


@pytest.fixture(scope="session")
def prepare_sample(limits: Limits, deid_options: DeidOptions) -> Callable[[str], Prepared | Rejected]:
    """Prepare ``dicom/<relative>`` once per session; returns the Prepared or the Rejected."""

    def run(relative: str) -> Prepared | Rejected:
        if relative not in _PREPARED:
            path = require_data("dicom") / relative
            source = SourceFile(relative, path.read_bytes())
            try:
                _PREPARED[relative] = prepare(
                    source, limits=limits, deid=deid_options, pseudonym_key=TEST_KEY
                )
            except Rejected as exc:
                _PREPARED[relative] = exc
        return _PREPARED[relative]

    return run


def build_dicom(
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    modality: str = "CT",
    rescale: tuple[float, float] | None = (1.0, -1024.0),
    window: tuple[float, float] | None = None,
    body_part: str | None = None,
    sop_class: str = CTImageStorage,
    extra: Callable[[Dataset], None] | None = None,
) -> bytes:
    """A small, valid Part 10 file around ``pixels`` (uint8/uint16/int16 grey or uint8 RGB)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = UID(sop_class)
    ds.SOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = modality
    ds.PatientName, ds.PatientID = "Synthetic^Patient", "SYN-0001"
    ds.StudyDate, ds.StudyTime = "20240131", "101530.5"
    if body_part:
        ds.BodyPartExamined = body_part
    colour = pixels.ndim == 3
    ds.Rows, ds.Columns = pixels.shape[:2]
    ds.SamplesPerPixel = 3 if colour else 1
    ds.PhotometricInterpretation = photometric
    if colour:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = pixels.dtype.itemsize * 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = np.ascontiguousarray(pixels).astype(pixels.dtype.newbyteorder("<")).tobytes()
    if extra is not None:
        extra(ds)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@pytest.fixture
def make_dicom() -> Callable[..., bytes]:
    return build_dicom


def read_png(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)))


@pytest.fixture
def png_array() -> Callable[[bytes], np.ndarray]:
    return read_png


def dataset_of(data: bytes) -> Dataset:
    return pydicom.dcmread(io.BytesIO(data))


@pytest.fixture
def read_dicom() -> Callable[[bytes], Dataset]:
    return dataset_of
