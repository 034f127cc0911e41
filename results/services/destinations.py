"""Result destinations set by a Curator: checked, created, changed, deleted, every change audited.

The secret (HTTP Basic password or bearer token) is write-only: it is
encrypted into ``Destination.secret_encrypted`` with ``ONCOPORTAL_REID_KEY``
(``results.identity``), never returned, logged or audited, and read back only
by :func:`destination_secret` for the sender. A destination cannot be enabled
without that key: results would not be filed under the hospital's patient.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction

from cases.models import Site, Study, User
from cases.services.audit import AuditContext, audit_record
from oncoportal.exceptions import InvalidInput
from results.identity import decrypt_json, encrypt_json, reid_configured
from results.models import Destination, StudyIdentity, stow_url_validator

__all__ = [
    "NO_KEY_MESSAGE",
    "DestinationFields",
    "destination_auth_headers",
    "destination_check",
    "destination_create",
    "destination_delete",
    "destination_secret",
    "destination_update",
    "studies_of_site_without_identity",
]

NO_KEY_MESSAGE = (
    "ONCOPORTAL_REID_KEY is not set: a destination cannot be enabled, because results could not be "
    "filed under the hospital's patient (docs/reidentification.md)"
)
_UNSET: Any = object()


@dataclass(kw_only=True)
class DestinationFields:
    """Everything a Curator sets on a destination except the secret."""

    name: str
    site: Site | None = None
    kind: str = Destination.Kind.DIMSE
    ae_title: str = ""
    host: str = ""
    port: int | None = None
    calling_ae_title: str = ""
    url: str = ""
    auth: str = Destination.Auth.NONE
    username: str = ""
    send_ai_results: bool = True
    send_review_results: bool = True
    is_active: bool = True

    @classmethod
    def of(cls, destination: Destination) -> DestinationFields:
        return cls(**{f.name: getattr(destination, f.name) for f in fields(cls)})


def _check_ae(value: str, what: str) -> None:
    if not 1 <= len(value) <= 16 or "\\" in value:
        raise InvalidInput(f"{what}: 1 to 16 characters, no backslash")


def destination_check(values: DestinationFields, *, has_secret: bool) -> DestinationFields:
    """The values cleaned (stripped; the other kind's fields emptied); InvalidInput with the first problem.

    ``has_secret``: a secret is given now or already stored.
    """
    values.name = values.name.strip()
    if not values.name:
        raise InvalidInput("name the destination, e.g. 'Main PACS'")
    if values.kind not in Destination.Kind.values:
        raise InvalidInput(f"kind: one of {', '.join(Destination.Kind.values)}")
    if values.auth not in Destination.Auth.values:
        raise InvalidInput(f"auth: one of {', '.join(Destination.Auth.values)}")
    if values.kind == Destination.Kind.DIMSE:
        values.ae_title, values.host = values.ae_title.strip(), values.host.strip()
        values.calling_ae_title = values.calling_ae_title.strip()
        _check_ae(values.ae_title, "the PACS's AE title")
        if values.calling_ae_title:
            _check_ae(values.calling_ae_title, "the calling AE title")
        if not values.host:
            raise InvalidInput("a DIMSE destination needs the PACS's host")
        if values.port is None or not 1 <= values.port <= 65535:
            raise InvalidInput("a DIMSE destination needs a port from 1 to 65535")
        if values.auth != Destination.Auth.NONE:
            raise InvalidInput("HTTP authentication applies to STOW-RS destinations only")
        values.url, values.username = "", ""
    else:
        values.url = values.url.strip().rstrip("/")
        if not values.url:
            raise InvalidInput("a STOW-RS destination needs the DICOMweb base URL")
        try:
            stow_url_validator(values.url)
        except ValidationError:
            raise InvalidInput("the STOW-RS URL must be an http:// or https:// URL") from None
        values.ae_title, values.host, values.port, values.calling_ae_title = "", "", None, ""
        values.username = values.username.strip()
        if values.auth == Destination.Auth.BASIC and not (values.username and has_secret):
            raise InvalidInput("HTTP Basic authentication needs a username and a password")
        if values.auth == Destination.Auth.BEARER and not has_secret:
            raise InvalidInput("bearer authentication needs a token")
        if values.auth != Destination.Auth.BASIC:
            values.username = ""
    if values.is_active and not reid_configured():
        raise InvalidInput(NO_KEY_MESSAGE)
    return values


def _encrypted_secret(secret: str) -> str:
    if not reid_configured():
        raise InvalidInput("ONCOPORTAL_REID_KEY is not set: a password or token cannot be stored")
    return encrypt_json({"secret": secret})


def _audit_detail(destination: Destination) -> dict[str, Any]:
    # Where and how, never the secret; a URL without user info or query string.
    parts = urlsplit(destination.url)
    url = f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"
    return {
        "name": destination.name,
        "site": destination.site.code if destination.site else None,
        "kind": destination.kind,
        "address": destination.address if destination.kind == Destination.Kind.DIMSE else url,
        "auth": destination.auth,
        "secret_set": bool(destination.secret_encrypted),
        "send_ai_results": destination.send_ai_results,
        "send_review_results": destination.send_review_results,
        "is_active": destination.is_active,
    }


@transaction.atomic
def destination_create(
    *,
    values: DestinationFields,
    secret: str = "",
    created_by: User | None = None,
    audit: AuditContext | None = None,
) -> Destination:
    """Check and create a destination (the secret encrypted); InvalidInput for a bad value. Audited."""
    if Destination.objects.filter(name__iexact=values.name.strip()).exists():
        raise InvalidInput(f"a destination named {values.name.strip()!r} already exists")
    values = destination_check(values, has_secret=bool(secret))
    destination = Destination(
        created_by=created_by, **{f.name: getattr(values, f.name) for f in fields(values)}
    )
    if secret and values.auth != Destination.Auth.NONE:
        destination.secret_encrypted = _encrypted_secret(secret)
    destination.save()
    audit_record(
        action="results.destination_created",
        actor=created_by,
        obj=destination,
        site=destination.site,
        audit=audit,
        detail=_audit_detail(destination),
    )
    return destination


@transaction.atomic
def destination_update(
    *,
    destination: Destination,
    values: DestinationFields,
    secret: str | None = None,
    by: User | None = None,
    audit: AuditContext | None = None,
) -> Destination:
    """Check and save new values; ``secret`` None keeps the stored one, '' clears it. Audited."""
    clash = Destination.objects.filter(name__iexact=values.name.strip()).exclude(pk=destination.pk)
    if clash.exists():
        raise InvalidInput(f"a destination named {values.name.strip()!r} already exists")
    keeps_secret = secret is None and bool(destination.secret_encrypted)
    values = destination_check(values, has_secret=bool(secret) or keeps_secret)
    before = _audit_detail(destination)
    for f in fields(values):
        setattr(destination, f.name, getattr(values, f.name))
    if values.auth == Destination.Auth.NONE or secret == "":
        destination.secret_encrypted = ""
    elif secret:
        destination.secret_encrypted = _encrypted_secret(secret)
    destination.save()
    after = _audit_detail(destination)
    changed = {k: after[k] for k in after if after[k] != before[k]}
    if secret:
        changed["secret_changed"] = True
    audit_record(
        action="results.destination_updated",
        actor=by,
        obj=destination,
        site=destination.site,
        audit=audit,
        detail={"name": destination.name, "changed": changed},
    )
    return destination


@transaction.atomic
def destination_delete(
    *, destination: Destination, by: User | None = None, audit: AuditContext | None = None
) -> int:
    """Delete a destination (its deliveries go with it); returns how many study identities were forgotten.

    Identities are kept only for a site some destination covers: when none is
    left for a site (active or not), its studies' identities are deleted too.
    Deactivating a destination keeps them.
    """
    detail = _audit_detail(destination)
    audit_record(
        action="results.destination_deleted",
        actor=by,
        obj=destination,
        site=destination.site,
        audit=audit,
        detail=detail,
    )
    destination.delete()
    if Destination.objects.filter(site__isnull=True).exists():
        return 0
    covered = Destination.objects.exclude(site__isnull=True).values("site_id")
    orphaned = StudyIdentity.objects.exclude(study__site_id__in=covered)
    forgotten, _ = orphaned.delete()
    if forgotten:
        audit_record(
            action="results.identities_forgotten",
            actor=by,
            obj=None,
            audit=audit,
            detail={"studies": forgotten, "why": f"destination {detail['name']!r} deleted"},
        )
    return forgotten


def destination_secret(destination: Destination) -> str:
    """The destination's password or token, decrypted ('' when none is set).

    For the sender only, in memory: never log, store or show it. Raises
    IdentityUnavailable when ONCOPORTAL_REID_KEY is missing or wrong.
    """
    if not destination.secret_encrypted:
        return ""
    return decrypt_json(destination.secret_encrypted).get("secret", "")


def destination_auth_headers(destination: Destination) -> dict[str, str]:
    """The HTTP Authorization header a STOW-RS destination needs ({} for none); as destination_secret."""
    if destination.auth == Destination.Auth.BASIC:
        pair = f"{destination.username}:{destination_secret(destination)}".encode()
        return {"Authorization": f"Basic {base64.b64encode(pair).decode('ascii')}"}
    if destination.auth == Destination.Auth.BEARER:
        return {"Authorization": f"Bearer {destination_secret(destination)}"}
    return {}


def studies_of_site_without_identity(*, site: Site) -> int:
    """How many of the site's studies have no kept identity (ingested before any destination covered it)."""
    return Study.objects.filter(site=site).exclude(pk__in=StudyIdentity.objects.values("study_id")).count()
