"""A deterministic train/validation/test split by group, stratified by class.

Images of one group (a patient, a cluster of near-duplicates) must never
straddle splits, or the validation and test scores flatter the model. Each
group is filed under its majority class; per class (in sorted order), its
groups (sorted by name) are shuffled once with ``random.Random(seed)`` and
handed out greedily: validation first, then test, each while the class's
image count on that side stays within its fraction of the class's total.

Guarantees:

- A group lands in one split only (the split is decided per group).
- The result is a pure function of the items and the parameters: groups and
  classes are sorted before the seeded shuffle, so the order of the input
  does not matter.
- Every class is in train, and in every side whose fraction is above zero:
  when no group fits a side's share, that side takes the class's smallest
  remaining group, and a side never takes a class's last groups that the
  other sides need. A class therefore needs one group per side in use
  (train, plus validation when ``val_fraction > 0``, plus test when
  ``test_fraction > 0``); with fewer, :func:`split_by_group` raises
  ``ValueError`` naming it rather than leave a side without the class.
- A class whose images all sit in groups filed under other classes (it is
  never a group's majority) cannot be guaranteed anywhere: also
  ``ValueError``.

With ``test_fraction=0`` this is exactly the validation split that
:func:`oncocore.training.data.group_split` has always made (same seed, same
groups chosen), so model cards that record a split stay reproducible.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

TRAIN, VAL, TEST = "train", "val", "test"


def groups_by_class(items: Iterable[tuple[str, str]]) -> dict[str, list[tuple[str, int]]]:
    """class -> [(group, images)] sorted by group, each group filed under its majority class.

    Args:
        items: ``(label, group)`` per image. A tie between classes goes to the
            class name that sorts first.
    """
    members: dict[str, Counter[str]] = defaultdict(Counter)
    for label, group in items:
        members[group][label] += 1
    by_class: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for group, counts in sorted(members.items()):
        majority = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        by_class[majority].append((group, sum(counts.values())))
    return dict(by_class)


def _take(
    order: list[tuple[str, int]], taken: set[str], target: float, *, keep: int
) -> list[tuple[str, int]]:
    """Groups of ``order`` (not yet taken) whose running image count stays within ``target``.

    Never takes so many that fewer than ``keep`` groups stay untaken; when
    none fits, the smallest free group (if ``keep`` allows).
    """
    free = [gn for gn in order if gn[0] not in taken]
    chosen: list[tuple[str, int]] = []
    count = 0
    for g, n in free:
        if len(free) - len(chosen) <= keep:
            break
        if count + n <= target:
            chosen.append((g, n))
            count += n
    if not chosen and len(free) > keep:
        chosen = [min(free, key=lambda gn: (gn[1], gn[0]))]
    return chosen


def split_by_group(
    items: Sequence[tuple[str, str]], *, val_fraction: float, test_fraction: float, seed: int
) -> list[str]:
    """The split (``"train"``, ``"val"`` or ``"test"``) of each item, in input order.

    Args:
        items: ``(label, group)`` per image; equal groups stay together. An
            empty group is refused (it would merge unrelated images).
        val_fraction: Target share of each class in validation, in [0, 1).
        test_fraction: Target share of each class in test, in [0, 1);
            ``val_fraction + test_fraction < 1``.
        seed: Seed of the one shuffle per class.

    Raises:
        ValueError: Bad fractions, an empty group, a class with fewer groups
            than the sides in use, or a class left out of a side.
    """
    if not (0.0 <= val_fraction < 1.0 and 0.0 <= test_fraction < 1.0 and val_fraction + test_fraction < 1.0):
        raise ValueError(
            f"fractions must be in [0, 1) with a sum below 1, got val {val_fraction}, test {test_fraction}"
        )
    if any(not group for _, group in items):
        raise ValueError("every item needs a non-empty group")
    sides = [(VAL, val_fraction), (TEST, test_fraction)]
    in_use = [side for side, fraction in sides if fraction > 0]
    rng = random.Random(seed)
    split_of: dict[str, str] = {}
    for cls, groups in sorted(groups_by_class(items).items()):
        if len(groups) < 1 + len(in_use):
            raise ValueError(
                f"class {cls!r} has {len(groups)} group(s); a group split into "
                f"{', '.join([TRAIN, *in_use])} needs >= {1 + len(in_use)}"
            )
        total = sum(n for _, n in groups)
        order = groups[:]
        rng.shuffle(order)
        taken: set[str] = set()
        for i, (side, fraction) in enumerate(sides):
            if fraction <= 0:
                continue
            # Leave one group for train and one for each later side in use.
            keep = 1 + sum(1 for later, f in sides[i + 1 :] if f > 0)
            for g, _ in _take(order, taken, fraction * total, keep=keep):
                taken.add(g)
                split_of[g] = side
    result = [split_of.get(group, TRAIN) for _, group in items]
    for side in [TRAIN, *in_use]:
        absent = {label for label, _ in items} - {
            label for (label, _), s in zip(items, result, strict=True) if s == side
        }
        if absent:
            raise ValueError(f"group split left class(es) {sorted(absent)} out of {side}")
    return result
