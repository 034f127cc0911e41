"""The Curator page's snapshots: list, freeze, one snapshot's counts, download as a zip (Curators only)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from cases.models import AuditSource
from cases.services.audit import AuditContext
from cases.task_registry import task_label
from cases.views.access import AuthenticatedHttpRequest, ui_view
from curation.forms_snapshots import SnapshotFreezeForm
from curation.models import Provenance, Snapshot
from curation.selectors_snapshots import snapshot_provenance_counts, snapshots_for_user
from curation.services.export import snapshot_export_stream
from curation.services.snapshots import snapshot_freeze
from oncocore.datasets.manifest import SPLITS
from oncoportal.exceptions import DomainError

CURATOR_ONLY = "Only Curators freeze and export dataset snapshots."


def _require_curator(request: AuthenticatedHttpRequest) -> None:
    if not request.user.has_perm("curation.curate_dataset"):
        raise PermissionDenied(CURATOR_ONLY)


def _snapshot(request: AuthenticatedHttpRequest, pk: int) -> Snapshot:
    return get_object_or_404(snapshots_for_user(user=request.user), pk=pk)


@require_http_methods(["GET", "POST"])
@ui_view
def snapshots(request: AuthenticatedHttpRequest) -> HttpResponse:
    """GET: the snapshots, newest first, and the freeze form. POST: freeze, then show the new snapshot."""
    _require_curator(request)
    form = SnapshotFreezeForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            snapshot = snapshot_freeze(
                **form.cleaned_data, audit=AuditContext.from_request(request, source=AuditSource.WEB)
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"{snapshot.name} frozen: {snapshot.size} images.")
            return HttpResponseRedirect(reverse("curation:snapshot_detail", args=[snapshot.pk]))
    rows = list(snapshots_for_user(user=request.user))
    for snapshot in rows:
        snapshot.task_name = task_label(snapshot.task)  # type: ignore[attr-defined]
        snapshot.split_sizes = [(side, sum(snapshot.counts.get(side, {}).values())) for side in SPLITS]  # type: ignore[attr-defined]
    return render(
        request,
        "curation/snapshots.html",
        {"curation_tab": "snapshots", "snapshots": rows, "form": form},
        status=400 if form.is_bound else 200,
    )


@require_GET
@ui_view
def snapshot_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """One snapshot: its parameters, images per split and class, label provenance, the download."""
    _require_curator(request)
    snapshot = _snapshot(request, pk)
    classes = list(snapshot.class_names)
    table = [
        (
            side,
            [snapshot.counts.get(side, {}).get(c, 0) for c in classes],
            sum(snapshot.counts.get(side, {}).values()),
        )
        for side in SPLITS
    ]
    totals = [sum(row[1][i] for row in table) for i in range(len(classes))]
    names = dict(Provenance.choices)
    provenance = [(p, names.get(p, p), n) for p, n in snapshot_provenance_counts(snapshot=snapshot).items()]
    return render(
        request,
        "curation/snapshot_detail.html",
        {
            "curation_tab": "snapshots",
            "snapshot": snapshot,
            "task_name": task_label(snapshot.task),
            "classes": classes,
            "table": table,
            "totals": totals,
            "provenance": provenance,
        },
    )


@require_GET
@ui_view
def snapshot_export(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse | StreamingHttpResponse:
    """The snapshot as a zip, streamed as it is written (the admin's "Export zip" comes here too)."""
    _require_curator(request)
    snapshot = _snapshot(request, pk)
    try:
        chunks = snapshot_export_stream(
            snapshot, audit=AuditContext.from_request(request, source=AuditSource.WEB)
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(reverse("curation:snapshot_detail", args=[snapshot.pk]))
    response = StreamingHttpResponse(chunks, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{snapshot.name}.zip"'
    return response
