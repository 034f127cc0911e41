"""Lifecycle fixtures: the bundled brain MRI model as champion, a random one as candidate, a real snapshot."""

from __future__ import annotations

from pathlib import Path

import pytest

# The Chromium fixtures, for the comparison page's browser test.
from tests.browser.conftest import artifacts, chromium, page  # noqa: F401
from tests.retraining.conftest import freeze

#: Redis database of these tests (tests/worker.py: each module family its own).
REDIS_DB = 1
CHAMPION_BUNDLE = Path(__file__).resolve().parents[2] / "inference" / "bundles" / "brain_mri-cpu"


@pytest.fixture
def champion(db):
    """The shipped brain MRI model (trained on the public data folder), active."""
    from inference.services import model_version_register

    version, _ = model_version_register(bundle_dir=CHAMPION_BUNDLE, activate=True)
    return version


@pytest.fixture
def candidate(db, random_bundle):
    """An untrained brain MRI model, registered and not active."""
    from inference.services import model_version_register

    version, _ = model_version_register(bundle_dir=random_bundle)
    return version


@pytest.fixture
def snapshot(data_dir, site, radiologist):
    """brain_mri-v1 frozen from 16 stored images (4 a class), 4 of them in the test split."""
    return freeze(data_dir, site=site, user=radiologist)
