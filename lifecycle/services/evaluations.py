"""Fair comparison: a candidate and the champion scored on the same snapshot split (issue 21, part 1).

Foundation only: the part's author replaces these bodies.
"""

from __future__ import annotations


def evaluation_run(*, evaluation_id: int) -> str:
    raise NotImplementedError


def evaluations_sweep() -> int:
    raise NotImplementedError
