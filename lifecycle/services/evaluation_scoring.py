"""The worker's half of an evaluation: score a snapshot split with both sides, and say what is not fair.

Scoring goes through the one scoring path (``inference.scoring.predictor_for``
and ``oncocore.scoring.score_batches``), each image decoded exactly as the
prediction worker decodes it (``inference.decode.serving_array``), with no
saliency maps and no files written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ObjectDoesNotExist

from curation.models import Provenance, Snapshot, SnapshotItem
from inference.decode import serving_array
from inference.models import ModelVersion
from inference.scoring import predictor_for
from oncocore.scoring import score_batches

#: How far back a chain of fine-tunes is followed for the fairness notes.
MAX_PARENTS = 8


@dataclass
class SideScores:
    """One side's probabilities per image id (columns in the snapshot's class order)."""

    probs: dict[int, list[float]] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    out_of_scope: int = 0


def split_items(snapshot: Snapshot, split: str) -> list[SnapshotItem]:
    """The split's items with their images, in a stable order."""
    return list(snapshot.items.filter(split=split).select_related("image").order_by("pk"))


def frozen_members(champion_members: Sequence[dict[str, Any]]) -> list[ModelVersion]:
    """The champion ensemble as frozen: its versions with the weights they had when the evaluation was asked for.

    Raises:
        ValueError: A member's version row is gone.
    """
    ids = [int(m["version_id"]) for m in champion_members]
    rows = ModelVersion.objects.in_bulk(ids)
    members = []
    for member in champion_members:
        version = rows.get(int(member["version_id"]))
        if version is None:
            raise ValueError(f"champion member {member['version']} is no longer registered")
        version.weight = float(member["weight"])  # in memory only: the frozen weight
        members.append(version)
    return members


def score_side(
    members: Sequence[ModelVersion], items: Sequence[SnapshotItem], class_names: Sequence[str]
) -> SideScores:
    """Score the items' images with one model or ensemble; decode errors are kept per image, not raised."""
    predictor = predictor_for(members)
    spec = predictor.members[0].card.preprocessing
    out = SideScores()
    batches = score_batches(
        predictor, [item.image for item in items], lambda image: serving_array(image, spec), saliency=False
    )
    for batch in batches:
        for scored in batch:
            if scored.error is not None:
                out.errors[scored.key.pk] = one_line(scored.error)
                continue
            result = scored.result
            assert result is not None
            out.probs[scored.key.pk] = [float(result.probabilities[name]) for name in class_names]
            out.out_of_scope += result.in_scope is False
    return out


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


# --- Fairness ------------------------------------------------------------------
def _training_snapshot(version: ModelVersion) -> Snapshot | None:
    try:
        return version.training_job.snapshot
    except ObjectDoesNotExist:
        pass
    frozen = (version.card.get("training_data") or {}).get("snapshot") or {}
    if frozen.get("name"):
        return Snapshot.objects.filter(name=frozen["name"]).first()
    return None


def _parent(version: ModelVersion) -> ModelVersion | None:
    try:
        base = version.training_job.base_version
    except ObjectDoesNotExist:
        base = None
    if base is not None:
        return base
    parent = (version.card.get("training_data") or {}).get("finetuned_from") or {}
    if isinstance(parent, dict) and parent.get("name") and parent.get("version"):
        return ModelVersion.objects.filter(name=parent["name"], version=parent["version"]).first()
    return None


def exposure(version: ModelVersion, image_ids: Iterable[int]) -> dict[str, Any]:
    """What of these images the version (or a model it was fine-tuned from) may have trained on.

    Returns ``data_folder`` (trained on the public data folder, not a
    snapshot: its base-data images may be among them) and ``overlap`` (how
    many of the images were in the train or validation split of a snapshot
    one of them was trained on: exact, from the snapshot's rows).
    """
    ids = set(image_ids)
    data_folder = False
    seen_in: set[int] = set()
    chain: list[str] = []
    current: ModelVersion | None = version
    for _ in range(MAX_PARENTS):
        if current is None or str(current) in chain:
            break
        chain.append(str(current))
        snapshot = _training_snapshot(current)
        if snapshot is None:
            data_folder = data_folder or not current.untrained
        else:
            seen_in |= set(
                SnapshotItem.objects.filter(snapshot=snapshot, image_id__in=ids)
                .exclude(split="test")
                .values_list("image_id", flat=True)
            )
        current = _parent(current)
    return {"version": str(version), "chain": chain, "data_folder": data_folder, "overlap": len(seen_in)}


def fairness(
    *, items: Sequence[SnapshotItem], candidate: ModelVersion, champion: Sequence[ModelVersion], split: str
) -> dict[str, Any]:
    """Notes on what could favour one side: base data the champion may have seen, training overlap, random weights."""
    image_ids = [item.image_id for item in items]
    base = sum(item.provenance == Provenance.BASE for item in items)
    n = len(items)
    notes: list[str] = []
    models = []
    for side, versions in (("champion", champion), ("candidate", [candidate])):
        for version in versions:
            seen = {**exposure(version, image_ids), "side": side}
            models.append(seen)
            via = "" if len(seen["chain"]) == 1 else f" (fine-tuned from {', '.join(seen['chain'][1:])})"
            if seen["data_folder"] and base:
                notes.append(
                    f"The {side} {version}{via} was trained on the public data folder: {base} of the {n} "
                    f"{split} images are base data from that folder and may have been among its "
                    "training images, which would favour it."
                )
            if seen["overlap"]:
                notes.append(
                    f"{seen['overlap']} of the {n} {split} images were in the training or validation split "
                    f"of a snapshot the {side} {version}{via} was trained on, which would favour it."
                )
            if version.untrained:
                notes.append(
                    f"The {side} {version} has random weights (untrained): its figures mean nothing."
                )
    return {"base_items": base, "models": models, "notes": notes}
