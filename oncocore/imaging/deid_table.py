"""PS3.15 Table E.1-1 as data: load ``ps315_e1_1.tsv`` once and resolve it for a set of options.

The table keeps, per attribute, the Basic Profile action and the action each
profile option substitutes. :func:`action_plan` turns that into one concrete
action per tag for the options in force:

* ``X`` remove, ``Z`` empty (zero length), ``D`` dummy value, ``K`` keep,
  ``U`` replace the UID (keep under Retain UIDs).
* Combined actions depend on the attribute's type in its IOD, which we do not
  track per IOD, so we pick the choice that is valid for every type and leaks
  nothing: ``X/Z`` -> ``Z`` (zero length is legal for type 2 and 3),
  ``X/D``, ``Z/D``, ``X/Z/D`` -> ``D`` (a dummy is legal even for type 1; an empty
  original stays empty), ``X/Z/U*`` -> ``U`` (keep the sequence and replace the
  UIDs inside it, through their own rows).
* ``C`` (clean) is not implemented, so it means remove (``X``).
* When two enabled options name different actions for one attribute, the more
  protective one wins (anything but ``K``).
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

TABLE_PATH = Path(__file__).with_name("ps315_e1_1.tsv")

# Option columns of the TSV, in the order they are consulted.
OPTION_COLUMNS = (
    "retain_safe_private",
    "retain_uids",
    "retain_device_identity",
    "retain_institution_identity",
    "retain_patient_characteristics",
    "retain_long_full_dates",
    "retain_long_modified_dates",
    "clean_descriptors",
    "clean_structured_content",
    "clean_graphics",
)

_COMBINED = {"X/Z": "Z", "X/D": "D", "Z/D": "D", "X/Z/D": "D", "X/Z/U*": "U", "C": "X"}
_SIMPLE = {"X", "Z", "D", "K", "U"}


@dataclass(frozen=True)
class ProfileRow:
    """One row of Table E.1-1."""

    tag: str  # as written in the standard, e.g. '(0010,0010)', '(50XX,XXXX)', '(GGGG,EEEE)'
    keyword: str
    name: str
    basic: str
    options: tuple[tuple[str, str], ...]  # (option column, action) for non-empty cells
    source: str  # 'E.1-1' or 'local'

    def action(self, enabled: tuple[str, ...]) -> str:
        """The concrete action (X, Z, D, K or U) with the ``enabled`` option columns."""
        cells = dict(self.options)
        chosen = [cells[col] for col in enabled if cells.get(col)]
        action = next((a for a in chosen if a != "K"), "K") if chosen else self.basic
        action = _COMBINED.get(action, action)
        if action not in _SIMPLE:
            raise ValueError(f"unknown action {action!r} for {self.tag} in {TABLE_PATH.name}")
        return action


@functools.lru_cache(maxsize=1)
def load_table(path: Path = TABLE_PATH) -> tuple[ProfileRow, ...]:
    """All rows of the TSV (comment lines start with '#'). Cached: the file is read once."""
    with path.open(encoding="utf-8", newline="") as fh:
        lines = [line for line in fh if not line.startswith("#")]
    rows = []
    for rec in csv.DictReader(lines, delimiter="\t"):
        options = tuple((col, rec[col].strip()) for col in OPTION_COLUMNS if rec[col].strip())
        rows.append(
            ProfileRow(
                tag=rec["tag"].strip().upper(),
                keyword=rec["keyword"].strip(),
                name=rec["name"].strip(),
                basic=rec["basic"].strip(),
                options=options,
                source=rec["source"].strip(),
            )
        )
    return tuple(rows)


@dataclass(frozen=True)
class ActionPlan:
    """Concrete actions for one set of options: exact tags, masked tags and private tags."""

    exact: dict[int, str]
    masks: tuple[tuple[int, int, str], ...]  # (mask, value, action): tag & mask == value
    private: str

    def action_for(self, tag: int) -> str | None:
        """The action for ``tag``, or None when the table does not list it (keep)."""
        if (tag >> 16) % 2 == 1:
            return self.private
        action = self.exact.get(tag)
        if action is not None:
            return action
        for mask, value, masked_action in self.masks:
            if tag & mask == value:
                return masked_action
        return None


def _parse_tag(text: str) -> tuple[int, int]:
    """'(60XX,3000)' -> (mask, value); exact tags get a full mask."""
    hexdigits = text.strip("()").replace(",", "")
    if len(hexdigits) != 8:
        raise ValueError(f"bad tag {text!r} in {TABLE_PATH.name}")
    mask = int("".join("0" if c == "X" else "F" for c in hexdigits), 16)
    value = int(hexdigits.replace("X", "0"), 16)
    return mask, value


@functools.lru_cache(maxsize=16)
def action_plan(enabled: tuple[str, ...]) -> ActionPlan:
    """Resolve the table for the enabled option columns (cached per combination)."""
    unknown = set(enabled) - set(OPTION_COLUMNS)
    if unknown:
        raise ValueError(f"unknown profile options: {sorted(unknown)}")
    exact: dict[int, str] = {}
    masks: list[tuple[int, int, str]] = []
    private = "X"
    for row in load_table():
        action = row.action(enabled)
        if row.tag == "(GGGG,EEEE)":
            private = action
            continue
        mask, value = _parse_tag(row.tag)
        if mask == 0xFFFFFFFF:
            exact[value] = action
        else:
            masks.append((mask, value, action))
    return ActionPlan(exact=exact, masks=tuple(masks), private=private)
