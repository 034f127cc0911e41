"""Keeping, reading and forgetting a study's encrypted identity (``results.models.StudyIdentity``).

The intake calls :func:`study_identity_keep` (through ``cases.signals.study_instance_stored``)
inside its transaction. The identity is kept only when an active destination
covers the study's site and ``ONCOPORTAL_REID_KEY`` is set; it is encrypted
before it reaches the row and decrypted only in memory, by a sender, through
:func:`study_identity_get`. No function here logs or raises a message with a
value of the identity.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import transaction

from cases.models import Study
from cases.services.audit import AuditContext, audit_record
from results.identity import IdentityUnavailable, decrypt_json, encrypt_json, reid_configured
from results.models import Destination, StudyIdentity
from results.selectors import destinations_for_site

logger = logging.getLogger(__name__)

DIFFERENT_PATIENT_WARNING = (
    "this instance names a different Patient ID than the study's first instance; "
    "results are filed under the first one's patient"
)
UNREADABLE_WARNING = (
    "the study's kept identity cannot be decrypted with ONCOPORTAL_REID_KEY; "
    "this instance's identity was not compared"
)


def study_identity_keep(*, study: Study, identity: Mapping[str, str]) -> list[str]:
    """Keep ``identity`` (encrypted) for ``study`` if a destination needs it; returns report warnings.

    The first instance of a study wins: a later one that names another Patient ID
    changes nothing and gets a warning. Idempotent; call inside the intake's
    transaction. Raises nothing for the identity's content.
    """
    if not identity or not reid_configured():
        return []
    if not destinations_for_site(site=study.site).exists():
        return []
    existing = StudyIdentity.objects.select_for_update().filter(study=study).first()
    if existing is None:
        StudyIdentity.objects.create(study=study, encrypted=encrypt_json(identity))
        return []
    try:
        kept = decrypt_json(existing.encrypted)
    except IdentityUnavailable:
        # A rotated or wrong key: the row stays as it is (reid_rotate can still fix it).
        logger.warning("study %s: kept identity cannot be decrypted with the current key", study.pk)
        return [UNREADABLE_WARNING]
    if kept.get("PatientID", "") != identity.get("PatientID", ""):
        logger.warning("study %s: an instance names a different Patient ID; the first one is kept", study.pk)
        return [DIFFERENT_PATIENT_WARNING]
    return []


def study_identity_get(*, study: Study) -> dict[str, str] | None:
    """The study's original identity, decrypted (in memory only), or None if none was kept.

    Raises IdentityUnavailable when the key is missing or wrong.
    """
    row = StudyIdentity.objects.filter(study=study).first()
    if row is None:
        return None
    return decrypt_json(row.encrypted)


@transaction.atomic
def study_identity_forget(*, study: Study, audit: AuditContext | None = None) -> bool:
    """Delete the study's kept identity (audited); True if there was one. Idempotent."""
    deleted, _ = StudyIdentity.objects.filter(study=study).delete()
    if deleted:
        audit_record(action="results.identity_forgotten", obj=study, site=study.site, audit=audit, detail={})
    return bool(deleted)


@transaction.atomic
def reid_rotate(*, old_key: str, audit: AuditContext | None = None) -> dict[str, int]:
    """Re-encrypt every kept identity and destination secret with ONCOPORTAL_REID_KEY; returns counts.

    Tokens made with ``old_key`` (or already with the current key) are
    re-encrypted with the current key, all in one transaction: if any token
    is readable with neither key, nothing changes and IdentityUnavailable says
    how many. Values are decrypted in memory only.
    """
    if not reid_configured():
        raise IdentityUnavailable("ONCOPORTAL_REID_KEY is not set: there is no key to rotate to")
    try:
        keys = MultiFernet([Fernet(settings.REID_KEY.encode()), Fernet(old_key.strip().encode())])
    except ValueError:
        raise IdentityUnavailable("the old key is not a Fernet key (32 bytes, urlsafe base64)") from None
    counts = {"identities": 0, "secrets": 0}
    unreadable = 0
    for identity in StudyIdentity.objects.select_for_update().only("pk", "encrypted"):
        try:
            identity.encrypted = keys.rotate(identity.encrypted.encode()).decode()
        except InvalidToken:
            unreadable += 1
            continue
        identity.save(update_fields=["encrypted", "updated_at"])
        counts["identities"] += 1
    for destination in Destination.objects.select_for_update().exclude(secret_encrypted=""):
        try:
            destination.secret_encrypted = keys.rotate(destination.secret_encrypted.encode()).decode()
        except InvalidToken:
            unreadable += 1
            continue
        destination.save(update_fields=["secret_encrypted"])
        counts["secrets"] += 1
    if unreadable:
        transaction.set_rollback(True)
        raise IdentityUnavailable(
            f"{unreadable} token(s) cannot be decrypted with either key: nothing changed"
        )
    audit_record(action="results.reid_key_rotated", audit=audit, detail=counts)
    return counts
