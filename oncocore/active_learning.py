"""Active learning: which unreviewed cases a reader should label next, and why.

Plain Python, no Django. Each image brings its newest finished result (the
champion's: the task's active model or ensemble) and, when a shadow candidate
scored it too, the challenger's probabilities. Every signal is scaled to
[0, 1] so tasks with different numbers of classes rank on one list:

- ``entropy``: normalised entropy of the ensemble's probabilities (the stored
  ``Prediction.uncertainty``; recomputed from the probabilities when missing).
- ``margin``: top probability minus the second; a small margin is a near tie.
- ``members``: ensemble member disagreement, the weighted Jensen-Shannon
  divergence of the members' probabilities divided by its ceiling
  ``min(log K, H(w))`` (K classes, H(w) the entropy of the normalised member
  weights), so 1 means members as far apart as they can be.
- ``challenger``: champion/challenger disagreement, the Jensen-Shannon
  divergence of the two probability vectors (equal weights) over ``log 2``.

Strategies (docs/active-learning.md):

- ``uncertainty``: ``U = (entropy + (1 - margin)) / 2``;
- ``disagreement``: ``D = max(members, challenger)``, 0 with one model and no challenger;
- ``combined``: ``1 - (1 - U)(1 - D)``: either signal raises it, and with one
  model and no challenger it is ``U``.

A case scores its highest image score. Images outside the model's scope are
never candidates (their probabilities say nothing the model may be trusted on);
a case whose every result is outside the scope is listed apart. Ties go to the
oldest case first (then the lower case id; within a case, the lower image id).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Strategy(StrEnum):
    UNCERTAINTY = "uncertainty"
    DISAGREEMENT = "disagreement"
    COMBINED = "combined"


STRATEGY_LABELS: dict[str, str] = {
    Strategy.COMBINED: "Combined (uncertainty or disagreement)",
    Strategy.UNCERTAINTY: "Most uncertain first",
    Strategy.DISAGREEMENT: "Most disagreement first",
}

_EPS = 1e-12


@dataclass(frozen=True)
class Member:
    """One ensemble member's probabilities and (unnormalised) weight."""

    probabilities: Mapping[str, float]
    weight: float = 1.0


@dataclass(frozen=True)
class ImageResult:
    """What the queue knows of one image: its case and the champion's (and challenger's) result.

    Attributes:
        image_id: The image.
        case_id: Its case.
        case_created: When the case arrived (ties go to the oldest).
        probabilities: The champion's class probabilities.
        uncertainty: Stored normalised entropy, or None to compute it.
        members: Each ensemble member's probabilities (one entry, or none, for a single model).
        stored_disagreement: ``Prediction.disagreement`` in nats, used when ``members`` lacks the detail.
        in_scope: False: the image is outside the model's scope (not a candidate).
        challenger: A shadow candidate's probabilities for the image, or None.
    """

    image_id: int
    case_id: int
    case_created: datetime
    probabilities: Mapping[str, float]
    uncertainty: float | None = None
    members: Sequence[Member] = ()
    stored_disagreement: float | None = None
    in_scope: bool | None = None
    challenger: Mapping[str, float] | None = None


@dataclass(frozen=True)
class ImageScore:
    """One image's signals (each in [0, 1], None when not measurable) and its score under a strategy."""

    image_id: int
    score: float
    entropy: float
    margin: float
    members: float | None
    challenger: float | None
    challenger_label: str | None
    label: str

    @property
    def uncertainty_score(self) -> float:
        return uncertainty_score(self.entropy, self.margin)

    @property
    def disagreement_score(self) -> float:
        return max(self.members or 0.0, self.challenger or 0.0)


@dataclass(frozen=True)
class CaseScore:
    """A case's place in the queue: its highest-scoring image and how many images were ranked."""

    case_id: int
    case_created: datetime
    score: float
    top: ImageScore
    images: int


@dataclass
class Queue:
    """The ranked cases, and the cases left out because every result is outside the model's scope."""

    cases: list[CaseScore] = field(default_factory=list)
    out_of_scope: list[int] = field(default_factory=list)


def normalised_entropy(probabilities: Mapping[str, float]) -> float:
    """Entropy over log(K), in [0, 1]; 0 for one class or none."""
    k = len(probabilities)
    if k < 2:
        return 0.0
    h = -sum(p * math.log(p) for p in probabilities.values() if p > _EPS)
    return min(max(h / math.log(k), 0.0), 1.0)


def margin(probabilities: Mapping[str, float]) -> float:
    """The top probability minus the second (1 for a single class)."""
    top = sorted(probabilities.values(), reverse=True)
    if not top:
        return 1.0
    return top[0] - (top[1] if len(top) > 1 else 0.0)


def _jsd(vectors: Sequence[Sequence[float]], weights: Sequence[float]) -> float:
    """Weighted Jensen-Shannon divergence (nats): sum_i w_i KL(p_i || sum_j w_j p_j)."""
    k = len(vectors[0])
    mean = [sum(w * v[c] for v, w in zip(vectors, weights, strict=True)) for c in range(k)]
    total = 0.0
    for v, w in zip(vectors, weights, strict=True):
        total += w * sum(
            p * (math.log(p) - math.log(max(m, _EPS))) for p, m in zip(v, mean, strict=True) if p > _EPS
        )
    return max(total, 0.0)


def member_disagreement(members: Sequence[Member], classes: Sequence[str]) -> float | None:
    """Members' weighted JSD over its ceiling min(log K, H(w)), in [0, 1]; None with fewer than two members."""
    if len(members) < 2 or len(classes) < 2:
        return None
    raw = [max(m.weight, 0.0) for m in members]
    total = sum(raw)
    if total <= 0:
        return None
    weights = [w / total for w in raw]
    ceiling = min(math.log(len(classes)), -sum(w * math.log(w) for w in weights if w > _EPS))
    if ceiling <= _EPS:  # all weight on one member: nothing to disagree with
        return 0.0
    vectors = [[float(m.probabilities.get(c, 0.0)) for c in classes] for m in members]
    return min(_jsd(vectors, weights) / ceiling, 1.0)


def pair_disagreement(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Equal-weight JSD of two probability vectors over log 2, in [0, 1] (the classes of both)."""
    classes = sorted(set(a) | set(b))
    vectors = [[float(a.get(c, 0.0)) for c in classes], [float(b.get(c, 0.0)) for c in classes]]
    return min(_jsd(vectors, [0.5, 0.5]) / math.log(2), 1.0)


def uncertainty_score(entropy: float, margin_: float) -> float:
    """U = (entropy + (1 - margin)) / 2."""
    return (entropy + (1.0 - margin_)) / 2.0


def strategy_score(strategy: Strategy | str, *, entropy: float, margin_: float, disagreement: float) -> float:
    """The image's score under ``strategy`` (module docstring)."""
    u = uncertainty_score(entropy, margin_)
    if strategy == Strategy.UNCERTAINTY:
        return u
    if strategy == Strategy.DISAGREEMENT:
        return disagreement
    if strategy == Strategy.COMBINED:
        return 1.0 - (1.0 - u) * (1.0 - disagreement)
    raise ValueError(f"unknown strategy {strategy!r}; one of {', '.join(s.value for s in Strategy)}")


def _top(probabilities: Mapping[str, float]) -> str:
    # Ties between classes go to the first name in sorted order, so the label is deterministic.
    return min(probabilities, key=lambda c: (-probabilities[c], c)) if probabilities else ""


def score_image(result: ImageResult, strategy: Strategy | str) -> ImageScore:
    """All signals of one image and its score under ``strategy``."""
    probs = result.probabilities
    classes = sorted(probs)
    entropy = result.uncertainty if result.uncertainty is not None else normalised_entropy(probs)
    entropy = min(max(entropy, 0.0), 1.0)
    m = margin(probs)
    members = member_disagreement(result.members, classes)
    if members is None and result.stored_disagreement is not None and len(classes) > 1:
        # Stored in nats (oncocore.predictor); without the members' weights log K is the ceiling.
        members = min(max(result.stored_disagreement, 0.0) / math.log(len(classes)), 1.0)
    challenger = challenger_label = None
    if result.challenger:
        challenger = pair_disagreement(probs, result.challenger)
        challenger_label = _top(result.challenger)
    disagreement = max(members or 0.0, challenger or 0.0)
    return ImageScore(
        image_id=result.image_id,
        score=strategy_score(strategy, entropy=entropy, margin_=m, disagreement=disagreement),
        entropy=entropy,
        margin=m,
        members=members,
        challenger=challenger,
        challenger_label=challenger_label,
        label=_top(probs),
    )


def rank_cases(results: Iterable[ImageResult], strategy: Strategy | str) -> Queue:
    """Cases by their highest image score, best first; ties oldest case first (module docstring)."""
    strategy = Strategy(strategy)
    best: dict[int, tuple[ImageResult, ImageScore]] = {}
    counted: dict[int, int] = {}
    seen: dict[int, datetime] = {}
    for result in results:
        seen.setdefault(result.case_id, result.case_created)
        if result.in_scope is False:
            continue
        scored = score_image(result, strategy)
        counted[result.case_id] = counted.get(result.case_id, 0) + 1
        held = best.get(result.case_id)
        if held is None or (-scored.score, scored.image_id) < (-held[1].score, held[1].image_id):
            best[result.case_id] = (result, scored)
    cases = [
        CaseScore(case_id=cid, case_created=r.case_created, score=s.score, top=s, images=counted[cid])
        for cid, (r, s) in best.items()
    ]
    cases.sort(key=lambda c: (-c.score, c.case_created, c.case_id))
    outside = sorted((cid for cid in seen if cid not in best), key=lambda cid: (seen[cid], cid))
    return Queue(cases=cases, out_of_scope=outside)


def reasons(top: ImageScore, *, with_challenger: bool = True) -> list[tuple[str, float]]:
    """Why an image ranks where it does, strongest first: (kind, value) with kind one of
    ``uncertain`` (U), ``members`` and ``challenger``; signals of 0.05 or less are left out."""
    found = [("uncertain", top.uncertainty_score)]
    if top.members is not None:
        found.append(("members", top.members))
    if with_challenger and top.challenger is not None:
        found.append(("challenger", top.challenger))
    return sorted(((k, v) for k, v in found if v > 0.05), key=lambda kv: -kv[1])
