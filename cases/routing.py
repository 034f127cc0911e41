"""Task routing as the Django apps read it: the stored rules (``RoutingRule``), evaluated by ``oncocore.routing``."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from cases.models import RoutingRule
from cases.task_registry import task_get
from oncocore import routing
from oncocore.tasks import UNASSIGNED

logger = logging.getLogger(__name__)


def routing_rules() -> list[routing.RoutingRule]:
    """The enabled rules, in order. A rule whose task is no longer known is skipped (and logged), never followed.

    Read for each new case only (no cache): an edit in the admin applies to the next study at once.
    """
    rules = []
    for row in RoutingRule.objects.filter(enabled=True).order_by("order", "id"):
        if row.task != UNASSIGNED and task_get(row.task) is None:
            logger.warning("routing rule %s routes to unknown task %r; skipped", row.pk, row.task)
            continue
        rules.append(row.as_rule())
    return rules


def route_header(header: Mapping[str, str]) -> routing.Route:
    """The task the stored rules give a DICOM header (Unassigned when none matches)."""
    return routing.route(routing_rules(), header)
