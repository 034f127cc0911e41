"""Inference fixtures: an untrained (random-weight) bundle registered and active, and ingested cases."""

from __future__ import annotations

import pytest

from cases.models import Task
from cases.services.intake import intake_sources
from inference import registry
from inference.services import model_version_activate, model_version_register

BRAIN_CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]


@pytest.fixture(scope="session")
def random_bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bundles") / "brain-tiny"
    registry.make_random_bundle(folder, task=Task.BRAIN_MRI, class_names=BRAIN_CLASSES, input_size=64)
    return folder


@pytest.fixture
def random_model(db, random_bundle):
    version, _ = model_version_register(bundle_dir=random_bundle)
    model_version_activate(version=version)
    return version


@pytest.fixture
def brain_case(data_dir, site, radiologist):
    """A brain MRI case with two real images, ingested before any model is active (nothing queued)."""
    paths = sorted((data_dir / "brain_mri" / "train" / "meningioma").glob("*.jpg"))[:2]
    report = intake_sources(
        uploads=[(p.name, p.read_bytes()) for p in paths],
        site=site,
        user=radiologist,
        source="web",
        task=Task.BRAIN_MRI,
        patient_ref="pt-1",
    )
    assert len(report.accepted) == 2
    from cases.models import Case

    return Case.objects.filter(pk__in=report.case_ids)
