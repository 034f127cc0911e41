"""Shared fixtures: sites, users with roles, sample data, and the service gate.

Tests that need a real service (PostgreSQL, Redis, Chromium, Orthanc, dcmtk)
call ``require_service(name, available, why)``: it skips when the service is
missing, and fails instead under ONCOPORTAL_REQUIRE_SERVICES=1 (CI).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REQUIRE_SERVICES = os.environ.get("ONCOPORTAL_REQUIRE_SERVICES", "") == "1"
REPO = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("ONCOPORTAL_DATA_DIR", REPO.parent / "shared" / "data")).resolve()


def require_service(name: str, available: bool, why: str = "") -> None:
    if available:
        return
    message = f"{name} is not available{': ' + why if why else ''}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} (ONCOPORTAL_REQUIRE_SERVICES=1)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    require_service("sample data", (DATA_DIR / "dicom" / "MANIFEST.tsv").exists(), f"no {DATA_DIR}")
    return DATA_DIR


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path):
    """Every test writes files into its own folder, so orphan checks are exact."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    settings.MEDIA_ROOT = str(tmp_path / "media")
    (tmp_path / "media").mkdir()
    yield


@pytest.fixture
def media_dir(tmp_path) -> Path:
    return tmp_path / "media"


@pytest.fixture
def site(db):
    from cases.models import Site

    return Site.objects.create(code="uh-radiology", name="University Hospital Radiology")


@pytest.fixture
def other_site(db):
    from cases.models import Site

    return Site.objects.create(code="cc-oncology", name="City Clinic Oncology")


def _make_user(username, role, site, **extra):
    from django.contrib.auth.models import Group

    from cases.models import User

    user = User.objects.create_user(username=username, password="correct-horse-42", site=site, **extra)
    if role:
        if not Group.objects.filter(name=role).exists():
            # Transactional tests flush the groups the roles migration made.
            from cases.roles import sync_roles

            sync_roles()
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def radiologist(site):
    return _make_user("rad", "Radiologist", site)


@pytest.fixture
def reviewer(site):
    return _make_user("rev", "Reviewer", site)


@pytest.fixture
def curator(site):
    return _make_user("cur", "Curator", None, is_staff=True)


@pytest.fixture
def integration(site):
    return _make_user("pacs", "Integration", site)


@pytest.fixture
def no_role_user(site):
    return _make_user("nobody", None, site)


@pytest.fixture
def other_radiologist(other_site):
    return _make_user("rad2", "Radiologist", other_site)


@pytest.fixture
def make_user():
    return _make_user
