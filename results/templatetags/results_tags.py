"""The case page's line about results sent to the PACS (a tag, so the cases app never imports results)."""

from __future__ import annotations

from typing import Any

from django import template

from results.delivery import RESENDABLE
from results.models import DeliveryStatus, ResultDelivery

register = template.Library()


@register.inclusion_tag("results/_case_results.html")
def case_results(case: Any, user: Any) -> dict[str, Any]:
    """How the case's result objects fared per status, and whether this user may resend the failed ones."""
    counts: dict[str, int] = {}
    for status in ResultDelivery.objects.filter(result__case=case).values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return {
        "case": case,
        "counts": [(DeliveryStatus(s).label, n) for s, n in sorted(counts.items())],
        "resendable": sum(counts.get(s, 0) for s in RESENDABLE),
        "can_resend": bool(user.has_perm("results.change_resultdelivery")),
    }
