"""manage.py reid_rotate: every token re-encrypted with the new key, or nothing changed."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError

from cases.models import AuditEvent, Study
from results.identity import IdentityUnavailable, encrypt_json
from results.models import StudyIdentity
from results.services.destinations import DestinationFields, destination_create, destination_secret
from results.services.identity import study_identity_get

pytestmark = pytest.mark.django_db

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


@pytest.fixture
def kept(site, curator, settings):
    settings.REID_KEY = OLD
    study = Study.objects.create(site=site, study_instance_uid="1.2.3.4", modality="CT")
    StudyIdentity.objects.create(study=study, encrypted=encrypt_json({"PatientID": "MRN-1"}))
    destination = destination_create(
        values=DestinationFields(name="Cloud", kind="stow", url="https://pacs.example.org", auth="bearer"),
        secret="token-1",
        created_by=curator,
    )
    return study, destination


def test_rotation_re_encrypts_identities_and_secrets(kept, settings, monkeypatch, capsys) -> None:
    study, destination = kept
    settings.REID_KEY = NEW
    with pytest.raises(IdentityUnavailable):
        study_identity_get(study=study)
    monkeypatch.setenv("OLD_REID_KEY", OLD)
    call_command("reid_rotate", "--old-key-env", "OLD_REID_KEY")
    assert "re-encrypted 1 study identity(ies) and 1 destination secret(s)" in capsys.readouterr().out
    assert study_identity_get(study=study) == {"PatientID": "MRN-1"}
    destination.refresh_from_db()
    assert destination_secret(destination) == "token-1"
    assert AuditEvent.objects.get(action="results.reid_key_rotated").detail == {"identities": 1, "secrets": 1}


def test_a_wrong_old_key_changes_nothing(kept, settings, monkeypatch) -> None:
    before = StudyIdentity.objects.get().encrypted
    settings.REID_KEY = NEW
    monkeypatch.setenv("OLD_REID_KEY", Fernet.generate_key().decode())
    with pytest.raises(
        CommandError, match="2 token\\(s\\) cannot be decrypted with either key: nothing changed"
    ):
        call_command("reid_rotate", "--old-key-env", "OLD_REID_KEY")
    assert StudyIdentity.objects.get().encrypted == before
    monkeypatch.delenv("OLD_REID_KEY")
    with pytest.raises(CommandError, match="OLD_REID_KEY is not set"):
        call_command("reid_rotate", "--old-key-env", "OLD_REID_KEY")
