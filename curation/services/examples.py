"""Labelled examples kept in step with the readings, and the Curator's include/exclude decision.

An image becomes an :class:`Example` once its case is reviewed (every reading
done, or every disagreement adjudicated). The final label is the
adjudication's if there is one, else the agreed readers' label. A refresh
rewrites what the readings say (label, provenance, readers, model version,
group, time) and never the Curator's decision (included, reason, who, when).
Base-data examples (provenance ``base``) take their label from the manifest,
so readings never rewrite them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from cases.models import Adjudication, Case, CaseStatus, ReviewDecision
from cases.services.audit import AuditContext, audit_record
from cases.services.review import ImageReading, case_readings
from curation.models import Example, Provenance
from oncoportal.exceptions import InvalidInput

# The fields a refresh owns; the Curator's (included, exclusion_reason, curated_*) are never among them.
READING_FIELDS = ("label", "provenance", "disagreement", "readers", "model_version", "group", "labelled_at")


@dataclass(frozen=True)
class FinalLabel:
    """What the readings of one image finally say, as an Example stores it."""

    label: str
    provenance: str
    disagreement: bool
    readers: int
    model_version: str
    labelled_at: datetime

    def fields(self, *, group: str) -> dict[str, Any]:
        return {
            "label": self.label,
            "provenance": self.provenance,
            "disagreement": self.disagreement,
            "readers": self.readers,
            "model_version": self.model_version,
            "group": group,
            "labelled_at": self.labelled_at,
        }


def example_group(*, case: Case) -> str:
    """The finest group known for a case's images: the patient pseudonym of its study, else the case."""
    patient = case.study.patient
    return patient.pseudonym if patient is not None else f"case-{case.pk}"


def final_label_of(reading: ImageReading, *, adjudication: Adjudication | None) -> FinalLabel | None:
    """The final label of one image from its readings (and adjudication); None while it has none.

    The deciding readings are the first ``required`` ones (those that finished
    the case); an extra reading of a reviewed case only counts as disagreement.
    """
    reviews = reading.reviews
    if adjudication is None and len(reviews) < reading.required:
        return None
    disagreement = len({r.label for r in reviews}) > 1
    times = [r.submitted_at for r in reviews]
    if adjudication is not None:
        return FinalLabel(
            label=adjudication.label,
            provenance=Provenance.ADJUDICATED,
            disagreement=True,
            readers=len(reviews),
            model_version=adjudication.ai_model_version,
            labelled_at=max([*times, adjudication.decided_at]),
        )
    deciding = reviews[: reading.required]
    label = deciding[0].label
    if len({r.label for r in deciding}) > 1:
        return None  # a disagreement still waiting for its adjudication
    if label == "":
        provenance = Provenance.NON_DIAGNOSTIC
    elif any(r.decision == ReviewDecision.LABEL for r in deciding):
        provenance = Provenance.LABELLED
    elif all(r.ai_label == label for r in deciding):
        provenance = Provenance.AI_CONFIRMED
    else:
        provenance = Provenance.CORRECTED
    return FinalLabel(
        label=label,
        provenance=provenance,
        disagreement=disagreement,
        readers=len(reviews),
        model_version=next((r.ai_model_version for r in deciding if r.ai_model_version), ""),
        labelled_at=max(times),
    )


@transaction.atomic
def case_examples_refresh(*, case: Case, audit: AuditContext | None = None) -> list[Example]:
    """Create or update the examples of a reviewed case from its readings; returns those written.

    Idempotent: an example that already says what the readings say is not
    written again (and audits nothing). A case that is not reviewed yet is left
    as it is. Base-data examples are never touched.
    """
    case = Case.objects.select_related("study__patient", "site").get(pk=case.pk)
    if case.status != CaseStatus.REVIEWED:
        return []
    adjudications = {a.image_id: a for a in Adjudication.objects.filter(case=case)}
    existing = {e.image_id: e for e in Example.objects.select_for_update().filter(case=case)}
    group = example_group(case=case)
    written: list[Example] = []
    for reading in case_readings(case=case):
        final = final_label_of(reading, adjudication=adjudications.get(reading.image_id))
        example = existing.get(reading.image_id)
        if final is None or (example is not None and example.provenance == Provenance.BASE):
            continue
        fields = final.fields(group=group)
        if example is None:
            example = Example.objects.create(
                image_id=reading.image_id, case=case, site=case.site, task=case.task, **fields
            )
        elif any(getattr(example, name) != value for name, value in fields.items()) or (
            example.task != case.task
        ):
            for name, value in fields.items():
                setattr(example, name, value)
            example.task = case.task
            example.save()
        else:
            continue
        written.append(example)
    if written:
        audit_record(
            action="curation.examples_refreshed",
            obj=case,
            site=case.site,
            audit=audit,
            detail={
                "examples": {str(e.image_id): {"label": e.label, "provenance": e.provenance} for e in written}
            },
        )
    return written


def examples_sync_all(*, audit: AuditContext | None = None, progress: Any = None) -> tuple[int, int]:
    """Refresh the examples of every reviewed case (data from before curation); returns (cases, examples written).

    Idempotent: a second run writes nothing. ``progress`` (optional) is called once per case.
    """
    cases = written = 0
    for case in Case.objects.filter(status=CaseStatus.REVIEWED).order_by("pk").iterator():
        written += len(case_examples_refresh(case=case, audit=audit))
        cases += 1
        if progress is not None:
            progress(case.pk)
    return cases, written


@transaction.atomic
def examples_set_included(
    *, examples: Iterable[Example], included: bool, reason: str = "", audit: AuditContext
) -> list[Example]:
    """Include or exclude examples (bulk); returns those whose decision changed.

    Excluding needs a reason (InvalidInput without one); including clears it.
    Each changed example gets its own audit event (who, when, from where, why).
    Idempotent: an example already in that state with that reason is left alone.
    A non-diagnostic example may be included, but a snapshot never takes it (it has no label).
    """
    reason = reason.strip()
    if not included and not reason:
        raise InvalidInput("say why these images are excluded")
    if included:
        reason = ""
    ids = [e.pk for e in examples]
    now = timezone.now()
    changed: list[Example] = []
    for example in Example.objects.select_for_update().select_related("site").filter(pk__in=ids):
        if example.included == included and example.exclusion_reason == reason:
            continue
        example.included = included
        example.exclusion_reason = reason
        example.curated_by = audit.actor
        example.curated_at = now
        example.save(update_fields=["included", "exclusion_reason", "curated_by", "curated_at", "updated_at"])
        audit_record(
            action="curation.example_included" if included else "curation.example_excluded",
            obj=example,
            site=example.site,
            audit=audit,
            detail={
                "image": example.image_id,
                "case": example.case_id,
                "task": example.task,
                "label": example.label,
                "reason": reason,
            },
        )
        changed.append(example)
    return changed
