"""Shadow (champion/challenger) runs on live cases (issue 21, part 2).

Foundation only: the part's author replaces these bodies.
"""

from __future__ import annotations

from collections.abc import Sequence


def shadow_predictions_run(*, shadow_prediction_ids: Sequence[int]) -> int:
    raise NotImplementedError


def shadow_sweep() -> int:
    raise NotImplementedError
