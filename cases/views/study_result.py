"""The case page's study result: the finding at the top and the images ranked by the rule (docs/study-result.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

from cases.models import Case, Image
from cases.services.case import case_study_finding, image_outcomes, images_in_study_order
from oncocore.study_result import ImageOutcome, StudyFinding

# The ranked strip shows this many images; the review panel follows the whole ranking.
KEY_IMAGES_SHOWN = 6
RULE_SUMMARY = (
    "An image labelled as a positive finding outranks every other; among them, the most probability "
    "on the positive classes leads; ties go to the surer, then the earlier image."
)


@dataclass(frozen=True)
class RankedImage:
    rank: int  # 1 = the key image
    image: Image
    position: int  # 1-based place in the study (series, then instance order)
    outcome: ImageOutcome


@dataclass
class StudyResultView:
    """What the page shows of the study result; ``finding.images == 0`` when no image has a result yet."""

    finding: StudyFinding
    total: int  # images in the study
    ranked: list[RankedImage] = field(default_factory=list)
    positions: dict[int, int] = field(default_factory=dict)  # image id -> 1-based place in the study
    rule: str = RULE_SUMMARY

    @property
    def key(self) -> RankedImage | None:
        return self.ranked[0] if self.ranked else None

    @property
    def key_image_id(self) -> int | None:
        return self.finding.key_image_id

    @property
    def shown(self) -> list[RankedImage]:
        return self.ranked[:KEY_IMAGES_SHOWN]

    @property
    def more(self) -> int:
        """Ranked images not in the strip (the review panel lists them all)."""
        return max(0, len(self.ranked) - KEY_IMAGES_SHOWN)

    @property
    def probabilities(self) -> list[tuple[str, float]]:
        """The key image's class probabilities, most probable first."""
        return sorted(self.finding.probabilities.items(), key=lambda kv: -kv[1])

    def image_order(self, images: list[Image]) -> list[Image]:
        """``images`` ranked: those with a result by the rule, then the rest in study order."""
        rank = {r.image.pk: r.rank for r in self.ranked}
        return sorted(images, key=lambda i: rank.get(i.pk, len(rank) + self.positions.get(i.pk, 0)))


def study_result_view(*, case: Case, images: list[Image]) -> StudyResultView:
    """The study result from the images' stored predictions (prefetched, as ``case_series`` loads them).

    Ranked by :func:`oncocore.study_result.rank_images` over each image's
    newest finished prediction for the case's task: the same data and rule the
    pipeline stored on the case, so the page and the worklist agree.
    """
    ordered = images_in_study_order(images)
    positions = {image.pk: n for n, image in enumerate(ordered, start=1)}
    outcomes = image_outcomes(task=case.task, images=ordered)
    finding = case_study_finding(task=case.task, outcomes=outcomes)
    by_id = {image.pk: image for image in ordered}
    outcome_of = {o.image_id: o for o in outcomes}
    ranked = [
        RankedImage(rank=n, image=by_id[image_id], position=positions[image_id], outcome=outcome_of[image_id])
        for n, image_id in enumerate(finding.ranked_image_ids, start=1)
    ]
    return StudyResultView(finding=finding, total=len(ordered), ranked=ranked, positions=positions)
