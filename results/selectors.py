"""Read-side queries of the results app."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from cases.models import Site, User
from cases.permissions import sees_all_sites
from results.models import Destination


def destinations_for_site(*, site: Site | None, active_only: bool = True) -> QuerySet[Destination]:
    """The destinations that receive ``site``'s results: its own and the every-site ones."""
    query = Q(site__isnull=True) if site is None else Q(site=site) | Q(site__isnull=True)
    destinations = Destination.objects.filter(query)
    return destinations.filter(is_active=True) if active_only else destinations


def destinations_for_user(*, user: User) -> QuerySet[Destination]:
    """Every destination for accounts that see all sites; else those of the account's own site."""
    destinations = Destination.objects.select_related("site", "created_by")
    if sees_all_sites(user):
        return destinations
    site_id = getattr(user, "site_id", None)
    return destinations.filter(site_id=site_id) if site_id is not None else destinations.none()
