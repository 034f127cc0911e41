"""Every DICOMweb route (QIDO-RS, WADO-RS, STOW-RS), as every API principal, on an own, a foreign and a missing study.

The same principals, rules and checks as the REST API (test_api.py):
status, the error body, no foreign data, and no existence oracle.
"""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

import dicomweb.urls
from tests.access.api_calls import endpoint_problems
from tests.access.api_table import Endpoint
from tests.access.dicomweb_table import DICOMWEB
from tests.access.world import World


def test_every_route_has_a_row() -> None:
    """A route or method added to dicomweb/urls.py without a row in DICOMWEB fails here."""
    routed: set[tuple[str | None, str]] = set()
    for pattern in dicomweb.urls.urlpatterns:
        view: Any = getattr(pattern.callback, "view_class", None)
        for method in ("get", "post", "put", "patch", "delete"):
            if hasattr(view, method):
                routed.add((pattern.name, method.upper()))
    rows: set[tuple[str | None, str]] = {(e.name, e.method) for e in DICOMWEB}
    assert routed == rows, f"missing rows: {routed - rows}; rows without a route: {rows - routed}"


@pytest.mark.parametrize("endpoint", DICOMWEB, ids=str)
def test_access(endpoint: Endpoint, world: World, clients: dict[str, APIClient]) -> None:
    problems = endpoint_problems(endpoint, world, clients)
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)
