"""DIMSE C-STORE: one association carrying a batch of objects, a status per object (pynetdicom SCU)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.pdu_primitives import A_ASSOCIATE
from pynetdicom.presentation import build_context

from results.senders import ObjectResult, Outcome, Outgoing, dicom_status_result

__all__ = ["DimsePeer", "send_dimse"]

logger = logging.getLogger(__name__)

# At most 128 presentation contexts may be proposed (PS3.8 9.3.2.2); a case's
# results use two or three SOP classes, so this only guards a pathological batch.
MAX_CONTEXTS = 128


@dataclass(frozen=True)
class DimsePeer:
    ae_title: str  # called
    host: str
    port: int
    calling_ae_title: str
    timeout: float  # seconds: connecting, association negotiation, each DIMSE answer

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"


def _syntaxes(stored: str | None) -> list[str]:
    # The stored syntax first (a compressed one cannot be converted), then the two every SCP takes.
    wanted = [stored] if stored else []
    return list(dict.fromkeys([*wanted, ExplicitVRLittleEndian, ImplicitVRLittleEndian]))


def send_dimse(*, peer: DimsePeer, objects: Sequence[Outgoing]) -> dict[int, ObjectResult]:
    """C-STORE every object over one association; returns a result per ``key``. Never raises for the peer's doing."""
    if not objects:
        return {}
    syntaxes: dict[str, list[str]] = {}
    for item in objects:
        stored = getattr(item.dataset.get("file_meta"), "TransferSyntaxUID", None)
        current = syntaxes.setdefault(str(item.dataset.SOPClassUID), [])
        syntaxes[str(item.dataset.SOPClassUID)] = list(dict.fromkeys([*current, *_syntaxes(stored)]))
    ae = AE(ae_title=peer.calling_ae_title)
    ae.acse_timeout = peer.timeout
    ae.dimse_timeout = peer.timeout
    ae.network_timeout = peer.timeout
    ae.connection_timeout = peer.timeout
    contexts = [build_context(sop_class, syntax) for sop_class, syntax in syntaxes.items()][:MAX_CONTEXTS]
    answers: list[Any] = []  # the A-ASSOCIATE response, for the reason of a rejection

    def keep_answer(event: evt.Event) -> None:
        answers.append(event.primitive)  # type: ignore[attr-defined]

    assoc = ae.associate(
        peer.host,
        peer.port,
        contexts=contexts,
        ae_title=peer.ae_title,
        evt_handlers=[(evt.EVT_ACSE_RECV, keep_answer)],
    )
    if not assoc.is_established:
        outcome, reason = _refusal(assoc, answers)
        logger.info("results: no association with %s: %s", peer, reason)
        return {item.key: ObjectResult(outcome, "", reason) for item in objects}
    results: dict[int, ObjectResult] = {}
    try:
        for item in objects:
            if not assoc.is_established:
                results[item.key] = ObjectResult(
                    Outcome.RETRY, "", "the association ended before this object was sent"
                )
                continue
            results[item.key] = _store_one(assoc, item)
    finally:
        if assoc.is_established:
            assoc.release()
    return results


def _store_one(assoc: Association, item: Outgoing) -> ObjectResult:
    sop_class = UID(str(item.dataset.SOPClassUID))
    try:
        answer = assoc.send_c_store(item.dataset)
    except ValueError as exc:
        # No accepted presentation context: the peer does not take this SOP class (or syntax).
        return ObjectResult(
            Outcome.FAILED, "", f"the peer accepted no presentation context for {sop_class.name}: {exc}"
        )
    except (AttributeError, TypeError) as exc:
        # The dataset cannot be encoded in the accepted syntax: a fault of the object, not the peer.
        return ObjectResult(Outcome.FAILED, "", f"the object cannot be encoded: {exc}")
    status = getattr(answer, "Status", None)
    if status is None:
        # An empty answer: the peer aborted, or did not answer within the DIMSE timeout.
        return ObjectResult(Outcome.RETRY, "", "no answer to the C-STORE (aborted or timed out)")
    comment = str(answer.get("ErrorComment", "") or "")
    return dicom_status_result(int(status), comment=comment)


def _refusal(assoc: Association, answers: list[Any]) -> tuple[Outcome, str]:
    """Why no association: rejected (retried: a PACS that does not know us yet may be set up
    meanwhile), every context refused (given up: it takes none of these SOP classes), or no peer."""
    answer = next((a for a in answers if isinstance(a, A_ASSOCIATE)), None)
    if assoc.is_rejected:
        if answer is not None:
            return Outcome.RETRY, f"association rejected ({answer.result_str}): {answer.reason_str}"
        return Outcome.RETRY, "association rejected"
    if answer is not None and answer.result == 0x00 and not assoc.accepted_contexts:
        return Outcome.FAILED, "the peer accepted none of the SOP classes proposed (it does not store them)"
    if answer is None:
        # pynetdicom marks a failed TCP connection as aborted too: no answer means no peer.
        return Outcome.RETRY, "cannot connect (connection refused or timed out)"
    return Outcome.RETRY, "association aborted by the peer"
