"""Read-side queries of the results app."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from cases.models import Site
from results.models import Destination


def destinations_for_site(*, site: Site | None, active_only: bool = True) -> QuerySet[Destination]:
    """The destinations that receive ``site``'s results: its own and the every-site ones."""
    query = Q(site__isnull=True) if site is None else Q(site=site) | Q(site__isnull=True)
    destinations = Destination.objects.filter(query)
    return destinations.filter(is_active=True) if active_only else destinations
