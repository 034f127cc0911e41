"""Fixtures for the web UI tests: real ingested cases (the cheap ORM-only ``make_case`` is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

CT_SMALL = Path("dicom/pydicom/CT_small.dcm")
MR_SMALL = Path("dicom/pydicom/MR_small.dcm")


@pytest.fixture
def brain_jpeg(data_dir: Path) -> Path:
    """One real brain MRI JPEG from the sample data."""
    return next(iter(sorted((data_dir / "brain_mri" / "train" / "glioma").glob("*.jpg"))))


@pytest.fixture
def ingest(site, radiologist) -> Callable[..., object]:
    """Run files through the real intake service: ``ingest(path, ..., user=, site=, task=, patient_ref=)``."""
    from cases.services.intake import intake_sources

    def _ingest(*paths: Path, user=None, site_=None, task: str | None = None, patient_ref: str = ""):
        return intake_sources(
            uploads=[(path.name, path.read_bytes()) for path in paths],
            site=site_ or site,
            user=user or radiologist,
            source="web",
            task=task,
            patient_ref=patient_ref,
        )

    return _ingest


def _case_of(report):
    from cases.models import Case

    assert report.accepted, report.to_dict()
    return Case.objects.get(pk=report.accepted[0].case_id)


@pytest.fixture
def ct_case(ingest, data_dir):
    """A real CT case of ``site``, ingested from CT_small.dcm by the radiologist."""
    return _case_of(ingest(data_dir / CT_SMALL))


@pytest.fixture
def jpeg_case(ingest, brain_jpeg):
    """A real plain-image case of ``site``: one brain MRI JPEG, task brain_mri."""
    return _case_of(ingest(brain_jpeg, task="brain_mri", patient_ref="PAT-0001"))


@pytest.fixture
def other_site_case(ingest, data_dir, other_site, other_radiologist):
    """A real MR case of ``other_site``, ingested by that site's radiologist."""
    return _case_of(ingest(data_dir / MR_SMALL, user=other_radiologist, site_=other_site))
