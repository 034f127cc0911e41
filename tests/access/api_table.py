"""The REST API's table: per route and method, the call, the scope and permission it needs, its scoping."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from api.models import Scope
from tests.access.principals import (
    FOREIGN,
    GLOBAL,
    MISSING,
    OWN,
    OWNER,
    OWNER_OR_ALL,
    SITE,
    SITE_BODY,
    Principal,
)
from tests.access.world import World

# --- The table ----------------------------------------------------------------
Path_ = Callable[[World, str], str]
Body = Callable[[World, Principal, str], dict[str, Any]]


@dataclass(frozen=True)
class Endpoint:
    name: str  # the URL name in api/urls.py
    method: str
    path: Path_
    scope: str
    permission: str | None = None
    scoping: str = SITE
    body: Body | None = None
    multipart: bool = False
    ok: frozenset[int] = frozenset({200})
    # Strings an allowed answer must show (the own site's, or each visible site's for a list):
    # a list that answered nothing would pass the leak check trivially.
    shows: Callable[[World, str], list[str]] | None = None
    accept: str = ""  # the Accept header (DICOMweb's retrieve negotiates it)
    raw: Callable[[World], tuple[bytes, str]] | None = None  # a body sent as is: (bytes, Content-Type)
    hidden: int = 404  # the status of an object the account may not see (a QIDO search under it: 204, empty)

    @property
    def columns(self) -> tuple[str, ...]:
        if self.scoping == GLOBAL:
            return (OWN,)
        return (OWN, FOREIGN) if self.scoping == SITE_BODY else (OWN, FOREIGN, MISSING)

    def __str__(self) -> str:
        return f"{self.method} {self.name}"


def _file(path: Path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes(), content_type="image/jpeg")


def _upload(w: World, who: Principal, which: str) -> dict[str, Any]:
    """A study upload; accounts without a site name one, and the foreign column names the other site."""
    body: dict[str, Any] = {"files": _file(w.upload_jpeg), "task": "brain_mri"}
    if which == FOREIGN or who.all_sites:
        body["site"] = w[which].code
    return body


def _webhook(w: World, who: Principal, which: str) -> dict[str, Any]:
    return {
        "name": "matrix hook",
        "url": "https://ris.matrix.example/hooks",
        "events": ["prediction.completed"],
        "site": w[OWN].code,
    }


def _destination(w: World, who: Principal, which: str) -> dict[str, Any]:
    return {"name": "matrix PACS", "ae_title": "MATRIX", "host": "127.0.0.1", "port": 1, "site": w[OWN].code}


V1 = "/api/v1"
ENDPOINTS: list[Endpoint] = [
    Endpoint("me", "GET", lambda w, s: f"{V1}/me/", Scope.READ, scoping=GLOBAL),
    Endpoint(
        "study_list",
        "GET",
        lambda w, s: f"{V1}/studies/",
        Scope.READ,
        scoping=GLOBAL,
        shows=lambda w, s: [w[s].study.study_instance_uid],
    ),
    Endpoint(
        "study_list",
        "POST",
        lambda w, s: f"{V1}/studies/",
        Scope.UPLOAD,
        "cases.upload_study",
        scoping=SITE_BODY,
        body=_upload,
        multipart=True,
        ok=frozenset({201}),
    ),
    Endpoint(
        "study_detail",
        "GET",
        lambda w, s: f"{V1}/studies/{w[s].study.pk}/",
        Scope.READ,
        shows=lambda w, s: [w[s].study.study_instance_uid],
    ),
    Endpoint(
        "upload_report",
        "GET",
        lambda w, s: f"{V1}/uploads/{w[s].batch_id}/",
        Scope.READ,
        scoping=OWNER_OR_ALL,
        shows=lambda w, s: [w[s].batch_id],
    ),
    Endpoint(
        "case_list",
        "GET",
        lambda w, s: f"{V1}/cases/",
        Scope.READ,
        scoping=GLOBAL,
        shows=lambda w, s: [f'"site":"{w[s].code}"'],
    ),
    Endpoint(
        "case_detail",
        "GET",
        lambda w, s: f"{V1}/cases/{w[s].case.pk}/",
        Scope.READ,
        "cases.view_case",
        shows=lambda w, s: [f'"site":"{w[s].code}"'],
    ),
    Endpoint(
        "case_detail",
        "PATCH",
        lambda w, s: f"{V1}/cases/{w[s].case.pk}/",
        Scope.UPLOAD,
        "cases.change_case",
        body=lambda w, who, s: {"priority": 1},
    ),
    Endpoint(
        "case_retry",
        "POST",
        lambda w, s: f"{V1}/cases/{w[s].failed.pk}/retry/",
        Scope.UPLOAD,
        "cases.change_case",
        ok=frozenset({202}),
    ),
    Endpoint(
        "case_reviews",
        "GET",
        lambda w, s: f"{V1}/cases/{w[s].case.pk}/reviews/",
        Scope.READ,
        "cases.view_case",
    ),
    Endpoint(
        "case_reviews",
        "POST",
        lambda w, s: f"{V1}/cases/{w[s].case.pk}/reviews/",
        Scope.REVIEW,
        "cases.review_case",
        body=lambda w, who, s: {"image": w[s].image.pk, "label": "glioma"},
        ok=frozenset({201}),
    ),
    Endpoint(
        "case_adjudications",
        "POST",
        lambda w, s: f"{V1}/cases/{w[s].disputed.pk}/adjudications/",
        Scope.REVIEW,
        "cases.adjudicate_case",
        body=lambda w, who, s: {"image": w[s].disputed_image.pk, "label": "glioma", "note": "matrix"},
        ok=frozenset({201}),
    ),
    Endpoint(
        "case_results",
        "GET",
        lambda w, s: f"{V1}/cases/{w[s].case.pk}/results/",
        Scope.READ,
        "cases.view_case",
        shows=lambda w, s: [w[s].result.sop_instance_uid],
    ),
    Endpoint(
        "result_resend",
        "POST",
        lambda w, s: f"{V1}/results/{w[s].result.pk}/resend/",
        Scope.ADMIN,
        "results.change_resultdelivery",
        ok=frozenset({202}),
    ),
    Endpoint(
        "adjudication_queue",
        "GET",
        lambda w, s: f"{V1}/adjudications/",
        Scope.READ,
        "cases.adjudicate_case",
        scoping=GLOBAL,
        shows=lambda w, s: [f'"site":"{w[s].code}"'],
    ),
    Endpoint(
        "prediction_detail",
        "GET",
        lambda w, s: f"{V1}/predictions/{w[s].prediction.pk}/",
        Scope.READ,
        "cases.view_case",
    ),
    Endpoint(
        "prediction_overlay",
        "GET",
        lambda w, s: f"{V1}/predictions/{w[s].prediction.pk}/overlay.png",
        Scope.READ,
        "cases.view_case",
    ),
    Endpoint(
        "prediction_saliency",
        "GET",
        lambda w, s: f"{V1}/predictions/{w[s].prediction.pk}/saliency.png",
        Scope.READ,
        "cases.view_case",
    ),
    Endpoint(
        "webhook_list",
        "GET",
        lambda w, s: f"{V1}/webhooks/",
        Scope.ADMIN,
        "api.view_webhooksubscription",
        scoping=GLOBAL,
        shows=lambda w, s: [w[s].webhook.url],
    ),
    Endpoint(
        "webhook_list",
        "POST",
        lambda w, s: f"{V1}/webhooks/",
        Scope.ADMIN,
        "api.add_webhooksubscription",
        scoping=GLOBAL,
        body=_webhook,
        ok=frozenset({201}),
    ),
    Endpoint(
        "webhook_detail",
        "GET",
        lambda w, s: f"{V1}/webhooks/{w[s].webhook.pk}/",
        Scope.ADMIN,
        "api.view_webhooksubscription",
    ),
    Endpoint(
        "webhook_detail",
        "PATCH",
        lambda w, s: f"{V1}/webhooks/{w[s].webhook.pk}/",
        Scope.ADMIN,
        "api.change_webhooksubscription",
        body=lambda w, who, s: {"name": "renamed by the matrix"},
    ),
    Endpoint(
        "webhook_detail",
        "DELETE",
        lambda w, s: f"{V1}/webhooks/{w[s].webhook.pk}/",
        Scope.ADMIN,
        "api.delete_webhooksubscription",
        ok=frozenset({204}),
    ),
    Endpoint(
        "webhook_deliveries",
        "GET",
        lambda w, s: f"{V1}/webhooks/{w[s].webhook.pk}/deliveries/",
        Scope.ADMIN,
        "api.view_webhookdelivery",
    ),
    Endpoint(
        "webhook_ping",
        "POST",
        lambda w, s: f"{V1}/webhooks/{w[s].webhook.pk}/ping/",
        Scope.ADMIN,
        "api.change_webhooksubscription",
        ok=frozenset({202}),
    ),
    Endpoint(
        "destination_list",
        "GET",
        lambda w, s: f"{V1}/destinations/",
        Scope.ADMIN,
        "results.view_destination",
        scoping=GLOBAL,
        shows=lambda w, s: [w[s].destination.name],
    ),
    Endpoint(
        "destination_list",
        "POST",
        lambda w, s: f"{V1}/destinations/",
        Scope.ADMIN,
        "results.add_destination",
        scoping=GLOBAL,
        body=_destination,
        ok=frozenset({201}),
    ),
    Endpoint(
        "destination_detail",
        "GET",
        lambda w, s: f"{V1}/destinations/{w[s].destination.pk}/",
        Scope.ADMIN,
        "results.view_destination",
    ),
    Endpoint(
        "destination_detail",
        "PATCH",
        lambda w, s: f"{V1}/destinations/{w[s].destination.pk}/",
        Scope.ADMIN,
        "results.change_destination",
        body=lambda w, who, s: {"name": "renamed by the matrix"},
    ),
    Endpoint(
        "destination_detail",
        "DELETE",
        lambda w, s: f"{V1}/destinations/{w[s].destination.pk}/",
        Scope.ADMIN,
        "results.delete_destination",
        ok=frozenset({204}),
    ),
    Endpoint(
        "destination_test",
        "POST",
        lambda w, s: f"{V1}/destinations/{w[s].destination.pk}/test/",
        Scope.ADMIN,
        "results.change_destination",
    ),
    Endpoint(
        "snapshot_list",
        "GET",
        lambda w, s: f"{V1}/snapshots/",
        Scope.ADMIN,
        "curation.view_snapshot",
        scoping=GLOBAL,
        shows=lambda w, s: [w.snapshot.name],
    ),
    Endpoint(
        "snapshot_list",
        "POST",
        lambda w, s: f"{V1}/snapshots/",
        Scope.ADMIN,
        "curation.add_snapshot",
        scoping=GLOBAL,
        body=lambda w, who, s: {"task": "brain_mri", "seed": 1, "test_fraction": 0.0},
        ok=frozenset({201}),
    ),
    Endpoint(
        "snapshot_detail",
        "GET",
        lambda w, s: f"{V1}/snapshots/{w.snapshot.pk}/",
        Scope.ADMIN,
        "curation.view_snapshot",
        scoping=GLOBAL,
        shows=lambda w, s: [w.snapshot.content_hash],
    ),
    Endpoint(
        "snapshot_export",
        "GET",
        lambda w, s: f"{V1}/snapshots/{w.snapshot.pk}/export/",
        Scope.ADMIN,
        "curation.view_snapshot",
        scoping=GLOBAL,
        shows=lambda w, s: [f"{w.snapshot.name}/manifest.csv"],  # a file name in the zip
    ),
    Endpoint("model_list", "GET", lambda w, s: f"{V1}/models/", Scope.READ, scoping=GLOBAL),
    Endpoint("model_detail", "GET", lambda w, s: f"{V1}/models/{w.model.pk}/", Scope.READ, scoping=GLOBAL),
    Endpoint(
        "model_activate",
        "POST",
        lambda w, s: f"{V1}/models/{w.model.pk}/activate/",
        Scope.ADMIN,
        "inference.change_modelversion",
        scoping=GLOBAL,
        body=lambda w, who, s: {"exclusive": False},
    ),
    Endpoint(
        "model_retire",
        "POST",
        lambda w, s: f"{V1}/models/{w.model.pk}/retire/",
        Scope.ADMIN,
        "inference.change_modelversion",
        scoping=GLOBAL,
    ),
    # The only version is the champion, and nothing was active before its promotion: both refuse (409),
    # after the same scope and role checks.
    Endpoint(
        "model_promote",
        "POST",
        lambda w, s: f"{V1}/models/{w.model.pk}/promote/",
        Scope.ADMIN,
        "lifecycle.promote_model",
        scoping=GLOBAL,
        body=lambda w, who, s: {"reason": "matrix"},
        ok=frozenset({409}),
    ),
    Endpoint(
        "model_rollback",
        "POST",
        lambda w, s: f"{V1}/models/changes/{w.model_change.pk}/rollback/",
        Scope.ADMIN,
        "lifecycle.promote_model",
        scoping=GLOBAL,
        ok=frozenset({409}),
    ),
    Endpoint(
        "case_audit",
        "GET",
        lambda w, s: f"{V1}/cases/{w[s].case.pk}/audit/",
        Scope.ADMIN,
        "cases.view_auditevent",
    ),
    Endpoint(
        "score",
        "POST",
        lambda w, s: f"{V1}/score/",
        Scope.UPLOAD,
        "cases.upload_study",
        scoping=GLOBAL,
        body=lambda w, who, s: {"file": _file(w.score_jpeg), "task": "brain_mri", "wait": "0"},
        multipart=True,
        ok=frozenset({200, 202}),
    ),
    Endpoint(
        "score_detail",
        "GET",
        lambda w, s: f"{V1}/score/{w[s].tryout.pk}/",
        Scope.READ,
        scoping=OWNER,
        shows=lambda w, s: [str(w[s].tryout.pk)],
    ),
    Endpoint(
        "score_detail",
        "DELETE",
        lambda w, s: f"{V1}/score/{w[s].tryout_to_delete.pk}/",
        Scope.UPLOAD,
        scoping=OWNER,
        ok=frozenset({204}),
    ),
    Endpoint(
        "score_image", "GET", lambda w, s: f"{V1}/score/{w[s].tryout.pk}/image.png", Scope.READ, scoping=OWNER
    ),
    Endpoint(
        "score_overlay",
        "GET",
        lambda w, s: f"{V1}/score/{w[s].tryout.pk}/overlay.png",
        Scope.READ,
        scoping=OWNER,
    ),
]
