"""The drift banner every Curator page shows (templates/curation/base.html, block curation_warnings)."""

from __future__ import annotations

import logging
from typing import Any

from django import template

from lifecycle.selectors_drift import drift_warnings

register = template.Library()
logger = logging.getLogger(__name__)


@register.inclusion_tag("lifecycle/drift_banner.html", takes_context=True)
def drift_banner(context: template.Context) -> dict[str, Any]:
    """The tasks whose recent cases moved beyond a threshold (cached statuses; cheap)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.has_perm("curation.curate_dataset"):
        return {"warnings": []}
    try:
        warnings = drift_warnings()
    except (KeyError, TypeError, ValueError):
        # A malformed reference must not take every Curator page down; the Drift page shows the error.
        logger.exception("drift status could not be computed")
        warnings = []
    return {"warnings": warnings, "on_drift_page": context.get("curation_tab") == "drift"}
