"""Shadow-run fixtures: a candidate that disagrees with the champion, and cases scored by both.

The champion is ``random_model`` (seed 0), which calls every brain image
"glioma"; the candidate is another untrained bundle (seed 2), which calls
every one "pituitary". So each shadow result differs from what readers were
shown, and its label and version are easy to look for in what readers get.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import BRAIN_CLASSES

#: Redis database of these tests (tests/worker.py: each module family its own).
REDIS_DB = 2
CANDIDATE_NAME = "brain-shadow-challenger"
CANDIDATE_VERSION = "9.9.9-shadow"
CHAMPION_LABEL = "glioma"
CANDIDATE_LABEL = "pituitary"


@pytest.fixture(scope="session")
def candidate_bundle(tmp_path_factory):
    from oncocore import registry

    folder = tmp_path_factory.mktemp("bundles") / "brain-challenger"
    registry.make_random_bundle(folder, task="brain_mri", class_names=BRAIN_CLASSES, input_size=64, seed=2)
    card = json.loads((folder / "model.json").read_text())
    card.update(name=CANDIDATE_NAME, version=CANDIDATE_VERSION)
    (folder / "model.json").write_text(json.dumps(card))
    return folder


@pytest.fixture
def candidate(db, candidate_bundle):
    """The candidate, registered and not active."""
    from inference.services import model_version_register

    version, _ = model_version_register(bundle_dir=candidate_bundle)
    return version


@pytest.fixture
def curator_audit(curator):
    from cases.models import AuditSource
    from cases.services.audit import AuditContext

    return AuditContext(actor=curator, source=AuditSource.WEB)


@pytest.fixture
def integration_api(integration):
    """A REST client with a read token of the integration account (what a PACS or RIS uses)."""
    from datetime import timedelta

    from rest_framework.test import APIClient

    from api.services.tokens import token_create

    token = token_create(user=integration, name="ris", scopes="read", expires_in=timedelta(days=1)).value
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client
