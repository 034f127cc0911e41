"""'Test connection' for a destination: a C-ECHO to a DIMSE PACS, an authenticated QIDO to a DICOMweb one.

Never raises for what the network or the peer does: the outcome is a
:class:`ConnectionOutcome` with a one-line message for the Curator. Audited
(without the secret).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass

from django.conf import settings
from pynetdicom import AE

from cases.models import User
from cases.services.audit import AuditContext, audit_record
from results.identity import IdentityUnavailable
from results.models import Destination
from results.services.destinations import destination_auth_headers

VERIFICATION = "1.2.840.10008.1.1"
TIMEOUT_SECONDS = 10.0
USER_AGENT = "OncoPortal-results"


@dataclass(frozen=True)
class ConnectionOutcome:
    ok: bool
    message: str


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect would resend the credentials to wherever it points.
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _echo(destination: Destination, timeout: float) -> ConnectionOutcome:
    where = destination.address
    try:
        ae = AE(ae_title=destination.calling_ae_title or settings.DICOM_AE_TITLE)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
        ae.connection_timeout = timeout
        ae.add_requested_context(VERIFICATION)
        assoc = ae.associate(destination.host, int(destination.port or 0), ae_title=destination.ae_title)
    except (ValueError, OSError) as exc:  # an AE title or host pynetdicom or the resolver refuses
        return ConnectionOutcome(False, f"C-ECHO to {where}: cannot try: {type(exc).__name__}: {exc}")
    if assoc.is_rejected:
        return ConnectionOutcome(False, f"C-ECHO to {where}: association rejected (check both AE titles)")
    if not assoc.is_established:
        return ConnectionOutcome(False, f"C-ECHO to {where}: no association (host, port or firewall?)")
    try:
        status = assoc.send_c_echo()
    finally:
        if assoc.is_established:
            assoc.release()
    code = int(status.Status) if "Status" in status else None
    if code == 0x0000:
        return ConnectionOutcome(True, f"C-ECHO to {where}: Success (0x0000)")
    if code is None:
        return ConnectionOutcome(False, f"C-ECHO to {where}: no answer within {timeout:g} s")
    return ConnectionOutcome(False, f"C-ECHO to {where}: status 0x{code:04X}")


def _qido(destination: Destination, timeout: float) -> ConnectionOutcome:
    url = f"{destination.url}/studies?limit=1"
    headers = {"Accept": "application/dicom+json", "User-Agent": USER_AGENT}
    try:
        headers |= destination_auth_headers(destination)
    except IdentityUnavailable:
        return ConnectionOutcome(False, "the stored password or token cannot be decrypted: enter it again")
    request = urllib.request.Request(url, headers=headers, method="GET")
    where = f"QIDO-RS GET {destination.url}/studies?limit=1"
    try:
        with _opener.open(request, timeout=timeout) as answer:
            answer.read(1024)
            return ConnectionOutcome(True, f"{where}: HTTP {answer.status}")
    except urllib.error.HTTPError as exc:
        hint = {401: " (check the credentials)", 403: " (the credentials may not read)"}.get(exc.code, "")
        return ConnectionOutcome(False, f"{where}: HTTP {exc.code}{hint}")
    except urllib.error.URLError as exc:
        return ConnectionOutcome(False, f"{where}: cannot connect: {exc.reason}")
    except TimeoutError:
        return ConnectionOutcome(False, f"{where}: no answer within {timeout:g} s")
    except (OSError, ValueError) as exc:  # ValueError: a URL or header http.client refuses
        return ConnectionOutcome(False, f"{where}: {type(exc).__name__}: {exc}")


def destination_test(
    *,
    destination: Destination,
    by: User | None = None,
    audit: AuditContext | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> ConnectionOutcome:
    """Try the destination (C-ECHO or QIDO); the outcome is audited. Never raises for the peer."""
    if destination.kind == Destination.Kind.DIMSE:
        outcome = _echo(destination, timeout)
    else:
        outcome = _qido(destination, timeout)
    audit_record(
        action="results.destination_tested",
        actor=by,
        obj=destination,
        site=destination.site,
        audit=audit,
        detail={"name": destination.name, "ok": outcome.ok, "outcome": outcome.message},
    )
    return outcome
