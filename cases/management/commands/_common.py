"""Helpers shared by the cases management commands."""

from __future__ import annotations

from django.core.management.base import CommandError

from cases.models import Site


def resolve_site(code: str | None) -> Site:
    """The site named by --site, or the only site when there is exactly one."""
    if code:
        try:
            return Site.objects.get(code=code)
        except Site.DoesNotExist:
            known = ", ".join(Site.objects.values_list("code", flat=True)) or "none yet"
            raise CommandError(f"unknown site {code!r} (known: {known})") from None
    sites = list(Site.objects.all()[:2])
    if len(sites) == 1:
        return sites[0]
    if not sites:
        raise CommandError("no site exists yet: create one in the admin or run `manage.py setup_demo`")
    known = ", ".join(Site.objects.values_list("code", flat=True))
    raise CommandError(f"--site is required when several sites exist (known: {known})")
