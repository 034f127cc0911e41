"""What a delivery sends: its stored object, re-identified in memory, and the peer it goes to.

The stored result object is de-identified like every instance. For a study
whose identity was kept (``StudyIdentity``, encrypted), the original patient
and order attributes go back on the dataset here, in memory, just before it
is sent; the bytes that leave are never written anywhere and no identity
value reaches a log line. A study without a kept identity is sent as stored
(pseudonymised), and the delivery log says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import pydicom
from django.conf import settings
from django.core.files.storage import default_storage
from pydicom.errors import InvalidDicomError

from cases.models import Study
from oncocore.imaging.identity import reidentify
from results.identity import IdentityUnavailable
from results.models import Destination, ResultDelivery
from results.senders import ObjectResult, Outcome, Outgoing
from results.senders.dimse import DimsePeer, send_dimse
from results.senders.stow import StowPeer, send_stow
from results.services.destinations import destination_secret
from results.services.identity import study_identity_get

PSEUDONYMISED = "sent pseudonymised: no identity was kept for this study"


# --- Objects and peers ----------------------------------------------------------------------
@dataclass
class Prepared:
    """The batch ready to send, and the deliveries that could not even be prepared."""

    outgoing: list[Outgoing]
    not_sent: dict[int, ObjectResult]
    note: str  # added to each sent object's log detail ('' or PSEUDONYMISED)


def batch_prepare(deliveries: list[ResultDelivery], *, study: Study) -> Prepared:
    """Load each delivery's object from storage and re-identify it in memory.

    An unreadable identity stops the whole batch (retried): sending under the
    pseudonym a study that has an identity would file it under the wrong patient.
    """
    try:
        identity = study_identity_get(study=study)
    except IdentityUnavailable as exc:
        reason = f"not sent: {exc}"
        return Prepared([], {d.pk: ObjectResult(Outcome.RETRY, "", reason) for d in deliveries}, "")
    outgoing: list[Outgoing] = []
    not_sent: dict[int, ObjectResult] = {}
    for delivery in deliveries:
        try:
            with default_storage.open(delivery.result.file.name, "rb") as handle:
                ds = pydicom.dcmread(handle)
        except (OSError, InvalidDicomError) as exc:
            # The stored object is gone or damaged: sending again cannot help; rebuild it.
            not_sent[delivery.pk] = ObjectResult(
                Outcome.FAILED, "", f"the stored object cannot be read ({type(exc).__name__})"
            )
            continue
        if identity:
            reidentify(ds, identity)
        outgoing.append(Outgoing(key=delivery.pk, dataset=ds))
    return Prepared(outgoing, not_sent, "" if identity else PSEUDONYMISED)


def incomplete(destination: Destination) -> str:
    """Why the destination cannot be used as set up ('' when it can); the admin's form checks the same."""
    if destination.kind == Destination.Kind.DIMSE:
        if not (destination.ae_title and destination.host and destination.port):
            return "the destination needs an AE title, a host and a port"
    elif not destination.url:
        return "the destination needs a STOW-RS URL"
    return ""


def batch_send(destination: Destination, outgoing: list[Outgoing]) -> dict[int, ObjectResult]:
    """Send the batch in one association or one request; a result per delivery id."""
    timeout = float(settings.RESULTS_TIMEOUT_SECONDS)
    missing = incomplete(destination)
    if missing:
        return {item.key: ObjectResult(Outcome.FAILED, "", missing) for item in outgoing}
    if destination.kind == Destination.Kind.DIMSE and destination.port is not None:
        dimse = DimsePeer(
            ae_title=destination.ae_title,
            host=destination.host,
            port=destination.port,
            calling_ae_title=destination.calling_ae_title or settings.DICOM_AE_TITLE,
            timeout=timeout,
        )
        return send_dimse(peer=dimse, objects=outgoing)
    try:
        secret = destination_secret(destination)
    except IdentityUnavailable as exc:
        return {item.key: ObjectResult(Outcome.RETRY, "", f"not sent: {exc}") for item in outgoing}
    stow = StowPeer(
        url=destination.url,
        timeout=timeout,
        auth=destination.auth,
        username=destination.username,
        secret=secret,
    )
    return send_stow(peer=stow, objects=outgoing)
