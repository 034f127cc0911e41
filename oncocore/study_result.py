"""One finding per study from its images' predictions: the documented rule (docs/study-result.md).

A CT or MR series is many images, and a PACS, a worklist and a structured
report each want one answer for the study. The rule, in order:

1. An image the model labelled as a positive finding (a tumour, a malignancy:
   the task's ``positive_classes``) outranks every image labelled otherwise.
2. Among those, the image with the most probability on the positive classes
   ranks first (its *suspicion*); a task without positive classes uses the
   top-class confidence instead.
3. Ties go to the higher top-class confidence, then to the earlier image
   (series and instance order), so the rule is deterministic.

The study's finding is the first-ranked image's label *with the class
probabilities that image had* (nothing is averaged or re-normalised across
images), and the ranking itself is the order the viewer shows the key images
in. Uncertainty stays the highest of any image, so one doubtful image still
flags the study for a careful read.

An image the model's input suitability check put outside its scope
(``in_scope`` False, ``oncocore.suitability``) has no class and takes no part
in the ranking: it is never a finding. A study whose every image is outside
the scope has no finding at all: its result says so (``out_of_scope``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["ImageOutcome", "StudyFinding", "rank_images", "study_finding", "suspicion"]


@dataclass(frozen=True)
class ImageOutcome:
    """One image's newest finished prediction, as the rule reads it."""

    image_id: int
    label: str
    confidence: float | None
    probabilities: Mapping[str, float] = field(default_factory=dict)
    uncertainty: float | None = None
    untrained: bool = False
    in_scope: bool | None = None  # False: outside the model's scope (no class); None: no check


@dataclass(frozen=True)
class StudyFinding:
    """The study-level result: the lead (most suspicious) image's label and probabilities."""

    label: str
    confidence: float | None
    probabilities: dict[str, float]
    positive: bool
    key_image_id: int | None
    uncertainty: float | None
    untrained: bool
    ranked_image_ids: tuple[int, ...]
    images: int
    out_of_scope: int = 0  # images outside the model's scope (not ranked, never a finding)

    @classmethod
    def empty(cls) -> StudyFinding:
        return cls("", None, {}, False, None, None, False, (), 0)

    @property
    def all_out_of_scope(self) -> bool:
        """Every image with a result is outside the model's scope: no finding, and the reader is told so."""
        return self.images > 0 and self.out_of_scope == self.images


def suspicion(outcome: ImageOutcome, positive_classes: frozenset[str] | set[str]) -> float:
    """How strongly an image points at a positive finding: its probability mass on the positive classes."""
    if not positive_classes:
        return float(outcome.confidence or 0.0)
    return float(sum(float(p) for name, p in outcome.probabilities.items() if name in positive_classes))


def rank_images(
    outcomes: Sequence[ImageOutcome], positive_classes: frozenset[str] | set[str]
) -> list[ImageOutcome]:
    """The images most suspicious first (the module's rule); ``outcomes`` in series/instance order."""
    order = {id(o): i for i, o in enumerate(outcomes)}
    return sorted(
        outcomes,
        key=lambda o: (
            o.label not in positive_classes,
            -suspicion(o, positive_classes),
            -(o.confidence or 0.0),
            order[id(o)],
        ),
    )


def study_finding(
    outcomes: Sequence[ImageOutcome], positive_classes: frozenset[str] | set[str]
) -> StudyFinding:
    """The study's one finding from its images' outcomes (given in series/instance order)."""
    if not outcomes:
        return StudyFinding.empty()
    inside = [o for o in outcomes if o.in_scope is not False]
    outside = len(outcomes) - len(inside)
    if not inside:
        return StudyFinding(
            "", None, {}, False, None, None, any(o.untrained for o in outcomes), (), len(outcomes), outside
        )
    ranked = rank_images(inside, positive_classes)
    lead = ranked[0]
    uncertainties = [o.uncertainty for o in inside if o.uncertainty is not None]
    return StudyFinding(
        label=lead.label,
        confidence=lead.confidence,
        probabilities={str(k): float(v) for k, v in lead.probabilities.items()},
        positive=lead.label in positive_classes,
        key_image_id=lead.image_id,
        uncertainty=max(uncertainties) if uncertainties else None,
        untrained=any(o.untrained for o in outcomes),
        ranked_image_ids=tuple(o.image_id for o in ranked),
        images=len(outcomes),
        out_of_scope=outside,
    )
