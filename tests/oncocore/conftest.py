"""Fixtures for the Django-free ML core tests (run them with or without pytest-django).

The repository-wide conftest has an autouse fixture that needs pytest-django's
``settings``; it is overridden here by a no-op of the same name so these tests
also run under ``-p no:django`` (e.g. on a GPU box without the web stack).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .helpers import BRAIN_CLASSES

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("ONCOPORTAL_DATA_DIR", REPO.parent / "shared" / "data")).resolve()
REQUIRE = os.environ.get("ONCOPORTAL_REQUIRE_SERVICES", "") == "1"


@pytest.fixture(autouse=True)
def _isolated_media():
    """Override the Django media fixture: nothing here touches Django storage."""
    yield


def _require_data(task: str) -> Path:
    root = DATA_DIR / task
    if (root / "MANIFEST.tsv").is_file():
        return root
    if REQUIRE:
        pytest.fail(f"sample data missing at {root} (ONCOPORTAL_REQUIRE_SERVICES=1)")
    pytest.skip(f"sample data missing at {root}")


@pytest.fixture
def require_data():
    """Callable: ``require_data("brain_mri") -> Path`` (skips/fails when absent)."""
    return _require_data


@pytest.fixture(scope="session")
def random_bundle(tmp_path_factory) -> Path:
    """An untrained tinycnn brain_mri bundle, 64 px, grayscale."""
    from oncocore.registry import make_random_bundle

    path = tmp_path_factory.mktemp("bundles") / "brain-random"
    make_random_bundle(path, task="brain_mri", class_names=BRAIN_CLASSES, arch="tinycnn", input_size=64)
    return path
