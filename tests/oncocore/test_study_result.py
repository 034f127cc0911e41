"""The study-level rule (oncocore.study_result): worked cases and its properties."""

from __future__ import annotations

import random
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from oncocore.study_result import ImageOutcome, StudyFinding, rank_images, study_finding, suspicion

BRAIN = ["glioma", "meningioma", "notumor", "pituitary"]
TUMOURS = frozenset({"glioma", "meningioma", "pituitary"})


def outcome(image_id: int, probabilities: dict[str, float], **extra: object) -> ImageOutcome:
    label = max(probabilities, key=lambda k: probabilities[k])
    return ImageOutcome(
        image_id=image_id,
        label=label,
        confidence=probabilities[label],
        probabilities=probabilities,
        **extra,  # type: ignore[arg-type]
    )


def test_the_docs_worked_example():
    # docs/study-result.md: three MR slices, one glioma among normal ones.
    slices = [
        outcome(11, {"glioma": 0.05, "meningioma": 0.03, "notumor": 0.9, "pituitary": 0.02}, uncertainty=0.3),
        outcome(
            12, {"glioma": 0.91, "meningioma": 0.04, "notumor": 0.03, "pituitary": 0.02}, uncertainty=0.2
        ),
        outcome(13, {"glioma": 0.02, "meningioma": 0.01, "notumor": 0.97, "pituitary": 0.0}, uncertainty=0.1),
    ]
    finding = study_finding(slices, TUMOURS)
    assert finding == StudyFinding(
        label="glioma",
        confidence=0.91,
        probabilities={"glioma": 0.91, "meningioma": 0.04, "notumor": 0.03, "pituitary": 0.02},
        positive=True,
        key_image_id=12,
        uncertainty=0.3,  # the highest of any image, not the lead's
        untrained=False,
        ranked_image_ids=(12, 11, 13),  # 11 has more tumour mass (0.10) than 13 (0.03)
        images=3,
    )


def test_a_positive_image_outranks_a_more_confident_negative_one():
    confident_normal = outcome(1, {"glioma": 0.01, "notumor": 0.99})
    weak_tumour = outcome(2, {"glioma": 0.51, "notumor": 0.49})
    assert study_finding([confident_normal, weak_tumour], TUMOURS).key_image_id == 2


def test_among_positives_the_most_tumour_mass_leads_not_the_top_class():
    # Image 1 is surer of its label, but image 2 puts more probability on tumours altogether.
    one = outcome(1, {"glioma": 0.70, "meningioma": 0.0, "notumor": 0.30})
    two = outcome(2, {"glioma": 0.60, "meningioma": 0.35, "notumor": 0.05})
    assert suspicion(two, TUMOURS) > suspicion(one, TUMOURS)
    finding = study_finding([one, two], TUMOURS)
    assert (finding.key_image_id, finding.label, finding.confidence) == (2, "glioma", 0.60)


def test_an_all_negative_study_leads_with_its_least_normal_image():
    a = outcome(1, {"glioma": 0.05, "notumor": 0.95})
    b = outcome(2, {"glioma": 0.40, "notumor": 0.60})
    finding = study_finding([a, b], TUMOURS)
    assert (finding.label, finding.positive, finding.key_image_id) == ("notumor", False, 2)


def test_a_task_without_positive_classes_ranks_by_confidence():
    a = outcome(1, {"x": 0.6, "y": 0.4})
    b = outcome(2, {"x": 0.2, "y": 0.8})
    finding = study_finding([a, b], frozenset())
    assert (finding.key_image_id, finding.label, finding.positive) == (2, "y", False)


def test_ties_go_to_the_earlier_image():
    same = {"glioma": 0.8, "notumor": 0.2}
    assert study_finding([outcome(7, same), outcome(3, same)], TUMOURS).key_image_id == 7


def test_no_images_give_the_empty_finding():
    assert study_finding([], TUMOURS) == StudyFinding.empty()
    assert StudyFinding.empty().images == 0 and StudyFinding.empty().key_image_id is None


def test_untrained_and_missing_values():
    a = ImageOutcome(image_id=1, label="glioma", confidence=None, untrained=True)
    b = ImageOutcome(image_id=2, label="notumor", confidence=0.9)
    finding = study_finding([a, b], TUMOURS)
    assert finding.key_image_id == 1 and finding.untrained and finding.uncertainty is None
    assert finding.probabilities == {}  # nothing invented when an image stored none


# --- Properties ---------------------------------------------------------------
@st.composite
def outcomes(draw: st.DrawFn) -> list[ImageOutcome]:
    n = draw(st.integers(min_value=1, max_value=12))
    ids = draw(st.lists(st.integers(min_value=1, max_value=10_000), min_size=n, max_size=n, unique=True))
    result = []
    for image_id in ids:
        # Coarse probabilities so that ties happen often enough to matter.
        raw = draw(st.lists(st.integers(min_value=0, max_value=4), min_size=len(BRAIN), max_size=len(BRAIN)))
        total = sum(raw) or 1
        probabilities = {name: r / total for name, r in zip(BRAIN, raw, strict=True)}
        if not sum(raw):
            probabilities = {name: 1 / len(BRAIN) for name in BRAIN}
        result.append(
            outcome(
                image_id,
                probabilities,
                uncertainty=draw(st.none() | st.floats(min_value=0, max_value=1)),
                untrained=draw(st.booleans()),
            )
        )
    return result


@settings(max_examples=300, deadline=None)
@given(outcomes())
def test_the_lead_is_always_an_image_of_the_study(study):
    finding = study_finding(study, TUMOURS)
    by_id = {o.image_id: o for o in study}
    assert finding.key_image_id in by_id
    lead = by_id[finding.key_image_id]
    assert (finding.label, finding.confidence) == (lead.label, lead.confidence)
    assert finding.probabilities == dict(lead.probabilities)  # that image's, not averaged
    assert sorted(finding.ranked_image_ids) == sorted(by_id) and finding.images == len(study)
    assert finding.ranked_image_ids[0] == finding.key_image_id


@settings(max_examples=300, deadline=None)
@given(outcomes())
def test_positives_outrank_negatives(study):
    ranked = rank_images(study, TUMOURS)
    flags = [o.label in TUMOURS for o in ranked]
    assert flags == sorted(flags, reverse=True)  # every positive before every negative
    assert study_finding(study, TUMOURS).positive == any(flags)
    positives = [o for o in ranked if o.label in TUMOURS]
    marks = [suspicion(o, TUMOURS) for o in positives]
    assert marks == sorted(marks, reverse=True)


@settings(max_examples=300, deadline=None)
@given(outcomes(), st.randoms(use_true_random=False))
def test_order_does_not_matter_except_for_ties(study, rnd: random.Random):
    shuffled = list(study)
    rnd.shuffle(shuffled)
    a, b = study_finding(study, TUMOURS), study_finding(shuffled, TUMOURS)

    def key(o: ImageOutcome) -> tuple[bool, float, float]:
        return (o.label not in TUMOURS, -suspicion(o, TUMOURS), -(o.confidence or 0.0))

    by_id = {o.image_id: o for o in study}
    # The same finding, up to images the rule cannot tell apart.
    assert key(by_id[a.key_image_id]) == key(by_id[b.key_image_id])
    assert (a.positive, a.uncertainty, a.untrained, a.images) == (
        b.positive,
        b.uncertainty,
        b.untrained,
        b.images,
    )
    assert [key(by_id[i]) for i in a.ranked_image_ids] == [key(by_id[i]) for i in b.ranked_image_ids]
    if sum(key(o) == key(by_id[a.key_image_id]) for o in study) == 1:
        # No tie for the lead: exactly the same finding (tied images further down may swap).
        assert replace(a, ranked_image_ids=()) == replace(b, ranked_image_ids=())
    # Within a tie, the earlier image (in the order given) ranks first.
    position = {o.image_id: i for i, o in enumerate(shuffled)}
    for first, second in zip(b.ranked_image_ids, b.ranked_image_ids[1:], strict=False):
        if key(by_id[first]) == key(by_id[second]):
            assert position[first] < position[second]
