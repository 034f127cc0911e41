"""Fixtures of the corpus tests: the corpus's limits, and users made without password hashing
(a few hundred tests each make their own, inside their transaction)."""

from __future__ import annotations

import pytest

from tests.corpus.hostile import CORPUS_SETTINGS


@pytest.fixture(autouse=True)
def _corpus_limits(settings):
    for name, value in CORPUS_SETTINGS.items():
        setattr(settings, name, value)


def _user(username: str, role: str, site, **extra):
    from django.contrib.auth.models import Group

    from cases.models import User
    from cases.roles import sync_roles

    user = User.objects.create(username=username, site=site, **extra)
    if not Group.objects.filter(name=role).exists():
        sync_roles()  # a transactional test's flush took the migration's groups
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def uploader(site):
    """A Radiologist of ``site`` (no password: tests log in with force_login or a token)."""
    return _user("corpus-rad", "Radiologist", site)


@pytest.fixture
def corpus_curator(site):
    return _user("corpus-cur", "Curator", None, is_staff=True)


# The DIMSE test's listener and spool, as tests/dimse has them.
from tests.dimse.conftest import spool_root, start_listener  # noqa: E402, F401
