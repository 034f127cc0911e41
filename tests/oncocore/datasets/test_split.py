"""split_by_group: one split per group, a pure function of its inputs, every class on every side."""

from __future__ import annotations

import math
import random
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oncocore.datasets.split import TEST, TRAIN, VAL, groups_by_class, split_by_group
from oncocore.training.data import group_split

Item = tuple[str, str]


@st.composite
def datasets(draw: st.DrawFn) -> list[Item]:
    """2-4 classes, each with 3-15 groups of 1-6 images; some groups carry one image of another class."""
    classes = [f"c{i}" for i in range(draw(st.integers(2, 4)))]
    items: list[Item] = []
    for cls in classes:
        for g in range(draw(st.integers(3, 15))):
            group = f"{cls}-g{g}"
            size = draw(st.integers(2, 6))
            items += [(cls, group)] * size
            if draw(st.booleans()):
                items.append((draw(st.sampled_from(classes)), group))  # a minority image
    return items


fractions = st.tuples(st.sampled_from([0.1, 0.15, 0.2, 0.3]), st.sampled_from([0.0, 0.1, 0.15, 0.2]))


@settings(max_examples=200, deadline=None)
@given(datasets(), fractions, st.integers(0, 2**16))
def test_no_group_in_two_splits_and_every_class_on_every_side(items, fracs, seed):
    val_fraction, test_fraction = fracs
    sides = split_by_group(items, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    assert len(sides) == len(items)
    side_of: dict[str, set[str]] = defaultdict(set)
    for (_, group), side in zip(items, sides, strict=True):
        side_of[group].add(side)
    assert all(len(s) == 1 for s in side_of.values())
    in_use = [TRAIN, VAL] + ([TEST] if test_fraction > 0 else [])
    assert set(sides) == set(in_use)
    for side in in_use:
        assert {label for label, _ in items} == {
            label for (label, _), s in zip(items, sides, strict=True) if s == side
        }


@settings(max_examples=200, deadline=None)
@given(datasets(), fractions, st.integers(0, 2**16), st.randoms(use_true_random=False))
def test_a_pure_function_of_its_inputs(items, fracs, seed, rnd):
    val_fraction, test_fraction = fracs
    sides = split_by_group(items, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    order = list(range(len(items)))
    rnd.shuffle(order)
    shuffled = split_by_group(
        [items[i] for i in order], val_fraction=val_fraction, test_fraction=test_fraction, seed=seed
    )
    assert [sides[i] for i in order] == shuffled


@settings(max_examples=200, deadline=None)
@given(datasets(), fractions, st.integers(0, 2**16))
def test_fractions_are_met_per_class(items, fracs, seed):
    """Per class (as filed), a side holds at most its share, or the one smallest free group when none fits."""
    val_fraction, test_fraction = fracs
    sides = split_by_group(items, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    side_of_group = {group: side for (_, group), side in zip(items, sides, strict=True)}
    for groups in groups_by_class(items).values():
        total = sum(n for _, n in groups)
        earlier: set[str] = set()  # validation is filled before test
        for side, fraction in ((VAL, val_fraction), (TEST, test_fraction)):
            on_side = [n for g, n in groups if side_of_group[g] == side]
            free = [n for g, n in groups if side_of_group[g] not in earlier]
            earlier.add(side)
            if fraction == 0:
                assert not on_side
            elif len(on_side) == 1:
                assert on_side[0] <= max(fraction * total, min(free))
            else:
                assert sum(on_side) <= fraction * total


@pytest.mark.parametrize(
    ("n", "val_fraction", "test_fraction"), [(20, 0.15, 0.15), (40, 0.2, 0.1), (7, 0.1, 0.1)]
)
def test_singleton_groups_meet_the_fractions_exactly(n, val_fraction, test_fraction):
    items = [(cls, f"{cls}{i}") for cls in "ab" for i in range(n)]
    sides = split_by_group(items, val_fraction=val_fraction, test_fraction=test_fraction, seed=5)
    for cls in "ab":
        mine = [s for (label, _), s in zip(items, sides, strict=True) if label == cls]
        assert mine.count(VAL) == max(1, math.floor(val_fraction * n + 1e-9))
        assert mine.count(TEST) == max(1, math.floor(test_fraction * n + 1e-9))


def test_group_split_is_split_by_group_without_a_test_side():
    rng = random.Random(0)
    rows = [
        {"path": f"{c}/{g}_{i}.jpg", "class": c, "grp": f"{c}{g}"}
        for c in "abc"
        for g in range(8)
        for i in range(rng.randint(1, 6))
    ]
    _train, val = group_split(rows, "grp", 0.25, seed=1)
    sides = split_by_group(
        [(r["class"], r["grp"]) for r in rows], val_fraction=0.25, test_fraction=0.0, seed=1
    )
    assert val == [r for r, s in zip(rows, sides, strict=True) if s == VAL]


def test_a_class_needs_a_group_per_side():
    items = [("a", "a1"), ("a", "a2"), ("a", "a3"), ("b", "b1"), ("b", "b2")]
    assert split_by_group(items, val_fraction=0.2, test_fraction=0.0, seed=0).count(TRAIN) == 3
    with pytest.raises(
        ValueError, match=r"class 'b' has 2 group\(s\); a group split into train, val, test needs >= 3"
    ):
        split_by_group(items, val_fraction=0.2, test_fraction=0.2, seed=0)


def test_a_class_that_is_never_a_majority_is_refused():
    items = [("a", f"g{i}") for i in range(6) for _ in range(2)] + [("b", "g0")]
    with pytest.raises(ValueError, match=r"left class\(es\) \['b'\] out of (train|val)"):
        split_by_group(items, val_fraction=0.2, test_fraction=0.0, seed=0)


@pytest.mark.parametrize(("val_fraction", "test_fraction"), [(-0.1, 0.1), (1.0, 0.0), (0.5, 0.5), (0.2, 1.2)])
def test_bad_fractions(val_fraction, test_fraction):
    with pytest.raises(ValueError, match="fractions must be in"):
        split_by_group([("a", "g")], val_fraction=val_fraction, test_fraction=test_fraction, seed=0)


def test_an_empty_group_is_refused():
    with pytest.raises(ValueError, match="non-empty group"):
        split_by_group([("a", "")], val_fraction=0.2, test_fraction=0.0, seed=0)
