"""The matrix's fixtures: the world, built once per module, and a client per principal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from django.test import override_settings
from rest_framework.test import APIClient

from tests.access.principals import CSRF_SECRET, PRINCIPALS
from tests.access.world import World, _build


@pytest.fixture(scope="module")
def world(
    django_db_setup: None, django_db_blocker: Any, data_dir: Path, random_bundle: Path, tmp_path_factory: Any
) -> Iterator[World]:
    """Built once for the module in a transaction rolled back at its end; its files in one media folder."""
    media = tmp_path_factory.mktemp("matrix-media")
    storages = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(media)},
        },
    }
    with (
        override_settings(STORAGES=storages, MEDIA_ROOT=str(media), API_AUTH_FAILURES_PER_MINUTE=10**6),
        django_db_blocker.unblock(),
        transaction.atomic(),
    ):
        built = _build(data_dir, random_bundle)
        yield built
        transaction.set_rollback(True)


@pytest.fixture(autouse=True)
def _isolated_media() -> None:
    """Overrides the per-test media folder of tests/conftest.py: the module's world keeps its files."""


@pytest.fixture
def clients(world: World, db: None) -> dict[str, APIClient]:
    made: dict[str, APIClient] = {}
    for who in PRINCIPALS:
        if who.kind in ("session", "session-no-csrf"):
            client = APIClient(enforce_csrf_checks=True)
            client.force_login(world.session_user)
            client.cookies[settings.CSRF_COOKIE_NAME] = CSRF_SECRET
        else:
            client = APIClient()
            if who.name in world.tokens:
                client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.tokens[who.name]}")
        made[who.name] = client
    return made
