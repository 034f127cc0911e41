"""What the snapshot commands share: the acting user, a snapshot by id or name, one-line errors."""

from __future__ import annotations

from django.core.management.base import CommandError

from cases.models import User
from curation.models import Snapshot


def resolve_user(username: str | None) -> User | None:
    if not username:
        return None
    user = User.objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"unknown user {username!r}")
    return user


def resolve_snapshot(ref: str) -> Snapshot:
    """A snapshot by id (``12``) or name (``brain_mri-v3``)."""
    found = Snapshot.objects.filter(pk=int(ref)) if ref.isdigit() else Snapshot.objects.filter(name=ref)
    snapshot = found.first()
    if snapshot is None:
        names = ", ".join(Snapshot.objects.order_by("-pk").values_list("name", flat=True)[:5]) or "none yet"
        raise CommandError(f"no snapshot {ref!r} (newest: {names})")
    return snapshot
