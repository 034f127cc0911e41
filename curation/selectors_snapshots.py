"""Read-side queries of snapshots (the labelled examples' selectors live beside, in their own module)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.db.models import QuerySet

from curation.models import Snapshot


def snapshots_for_user(*, user: Any) -> QuerySet[Snapshot]:
    """Every snapshot for an account that may view them (snapshots have no site); none otherwise."""
    if not user.has_perm("curation.view_snapshot"):
        return Snapshot.objects.none()
    return Snapshot.objects.select_related("created_by")


def snapshot_provenance_counts(*, snapshot: Snapshot) -> dict[str, int]:
    """Images per label provenance (ai_confirmed, corrected, ...), sorted by provenance."""
    counts = Counter(snapshot.items.values_list("provenance", flat=True))
    return {p: counts[p] for p in sorted(counts)}
