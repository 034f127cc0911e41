"""Building the result objects of a case (filled in by the builders' branch)."""

from __future__ import annotations

from typing import Literal

from results.models import ResultObject


def results_build(*, case_id: int, trigger: Literal["prediction", "review"]) -> list[ResultObject]:
    """Build and store the case's result objects for ``trigger``; returns the new rows."""
    raise NotImplementedError
