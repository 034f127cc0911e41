"""Every endpoint, as every principal, on the own and a foreign site: the status each gets, and no foreign data in any body.

Issue 18 asks for it. ``ENDPOINTS`` is the table: per route and method, the
call (its path for an object of the own and of the foreign site, a valid
body), the token scope and role permission it needs, and how its objects are
scoped. ``expected`` derives every cell's status from that row and the
principal, in the order the API decides (credentials, CSRF, role, scope, role
permission, then the object), so no status is typed per cell.

The world (two sites, each with a predicted case, a failed case, a disputed
case, an upload batch, a try-out, a webhook subscription, a result destination; one model version)
is built once for the module, inside a transaction that is rolled back when
the module ends. Every call runs in a savepoint that is rolled back, so what
one cell writes (a review, a retry, a deleted subscription) no other cell
sees. Files are the exception: the DELETE score/ row has try-outs of its own.

One test per table row runs all its cells and reports every mismatch at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

import api.urls
from api.models import ApiToken, Scope
from api.views.base import api_not_found
from cases.models import Role
from cases.permissions import ROLE_PERMISSIONS

ALL_SCOPES = ",".join(Scope.values)
SAFE = ("GET", "HEAD", "OPTIONS")
# Routes that hold no data and need no account (the schema and its two viewers).
UNLISTED = {"schema", "docs", "redoc"}
CSRF_SECRET = "m" * 32  # a CSRF cookie value; sent back unmasked in X-CSRFToken
ERROR_KEYS = {"code", "message", "errors"}
OWN, FOREIGN = "own", "foreign"
UPLOADERS = {OWN: "rad.uh", FOREIGN: "rad.cc"}  # who uploaded each site's batch and made its try-outs

# How an endpoint's object is scoped.
SITE = "site"  # the object's site: another site's is 404 unless the account sees all sites
SITE_BODY = "site-body"  # a collection call that names a site in its body: another site's is 400
OWNER = "owner"  # the account that made it, and no one else (try-outs)
OWNER_OR_ALL = "owner-or-all"  # the account that made it, or one that sees all sites (upload reports)
GLOBAL = "global"  # no site: the same for every account (models, lists, me, creating things)


# --- The world ----------------------------------------------------------------
@dataclass
class SiteData:
    code: str
    uploader: str  # username of the account that uploaded the batch and made the try-outs
    case: Any  # predicted, with a saliency map
    image: Any
    prediction: Any
    study: Any
    failed: Any
    disputed: Any
    disputed_image: Any
    batch_id: str
    tryout: Any  # done, with its overlay
    tryout_to_delete: Any  # only the DELETE row uses it: a delete removes files, which no savepoint restores
    webhook: Any
    destination: Any  # a DIMSE one whose PACS does not answer: the test call reports that, 200
    result: Any = None  # a result object of the predicted case, queued to a destination
    strings: list[str] = field(
        default_factory=list
    )  # distinctive identifiers: must not leak to the other site


@dataclass
class World:
    sites: dict[str, SiteData]
    model: Any
    tokens: dict[str, str]  # principal name -> token value
    session_user: Any
    upload_jpeg: Path
    score_jpeg: Path
    snapshot: Any = None  # of brain_mri: examples over both sites' images (Curators see all sites)
    model_change: Any = None  # the promotion that made ``model`` the champion (nothing active before it)

    def __getitem__(self, which: str) -> SiteData:
        return self.sites[which]


@dataclass(frozen=True)
class Principal:
    name: str
    kind: str  # anonymous | rejected | token | session | session-no-csrf
    username: str | None = None
    role: str | None = None
    scopes: frozenset[str] = frozenset(Scope.values)

    @property
    def permissions(self) -> set[str]:
        return set(ROLE_PERMISSIONS.get(self.role, [])) if self.role else set()

    @property
    def all_sites(self) -> bool:
        return "cases.view_all_sites" in self.permissions


PRINCIPALS = [
    Principal("anonymous", "anonymous"),
    Principal("revoked-token", "rejected", "pacs.uh", Role.INTEGRATION),
    Principal("expired-token", "rejected", "pacs.uh", Role.INTEGRATION),
    Principal("no-role", "token", "nobody.uh", None),
    Principal("radiologist", "token", "rad.uh", Role.RADIOLOGIST),
    Principal("reviewer", "token", "rev.uh", Role.REVIEWER),
    Principal("curator", "token", "cur.all", Role.CURATOR),
    Principal("curator-read", "token", "cur.all", Role.CURATOR, frozenset({Scope.READ})),
    *[
        Principal(f"integration-{scope}", "token", "pacs.uh", Role.INTEGRATION, frozenset({scope}))
        for scope in Scope.values
    ],
    Principal("session", "session", "rad.uh", Role.RADIOLOGIST),
    Principal("session-no-csrf", "session-no-csrf", "rad.uh", Role.RADIOLOGIST),
]


def _make_user(username: str, role: str | None, site: Any, **extra: Any) -> Any:
    from tests.conftest import _make_user as make

    return make(username, role, site, **extra)


def _jpegs(data_dir: Path, label: str) -> list[Path]:
    return sorted((data_dir / "brain_mri" / "train" / label).glob("*.jpg"))


def _site_data(
    site: Any, uploader: Any, readers: list[Any], curator: Any, files: list[Path], tryouts: list[Path]
) -> SiteData:
    from api.services.webhooks import webhook_create, webhook_ping
    from cases.models import Case, CaseStatus, IntakeBatch, Task
    from cases.services.intake import intake_sources
    from cases.services.review import review_submit
    from inference.models import Prediction, TryOut
    from inference.pipeline import predictions_run
    from inference.services import prediction_request
    from inference.tryout.services import tryout_start
    from inference.tryout.worker import tryout_run
    from results.services.destinations import DestinationFields, destination_create

    report = intake_sources(
        uploads=[(p.name, p.read_bytes()) for p in files],
        site=site,
        user=uploader,
        source="web",
        task=Task.BRAIN_MRI,
        patient_ref=f"PATREF-{site.code}",
    )
    assert len(report.accepted) == 3, report.to_dict()
    cases = list(Case.objects.filter(pk__in=report.case_ids).order_by("pk"))
    predictions_run(prediction_ids=[p.pk for case in cases for p in prediction_request(case=case)])
    predicted, failed, disputed = (Case.objects.get(pk=case.pk) for case in cases)
    assert predicted.status == CaseStatus.PREDICTED, predicted.status

    Prediction.objects.filter(image__case=failed).update(status="failed", error="boom")
    Case.objects.filter(pk=failed.pk).update(status=CaseStatus.FAILED, failure_reason="boom")

    disputed_image = disputed.images.get()
    for reader, label in zip(readers, ("glioma", "meningioma"), strict=True):
        review_submit(case=disputed, image=disputed_image, reviewer=reader, label=label)
    disputed.refresh_from_db()
    assert disputed.status == CaseStatus.ADJUDICATION, disputed.status

    made = []
    for path in tryouts:
        made.append(
            tryout_start(
                user=uploader, task=Task.BRAIN_MRI, upload=SimpleUploadedFile(path.name, path.read_bytes())
            )
        )
    assert tryout_run(tryout_id=str(made[0].pk))
    tryout = TryOut.objects.get(pk=made[0].pk)
    assert tryout.status == TryOut.Status.DONE

    webhook = webhook_create(
        name=f"hook {site.code}",
        url=f"https://ris.{site.code}.example/hooks",
        events=["prediction.completed"],
        site=site,
        created_by=curator,
    )
    webhook_ping(subscription=webhook, by=curator)
    destination = destination_create(
        # Port 1 on loopback: nothing listens, so a test call fails at once, with its reason.
        values=DestinationFields(
            name=f"PACS {site.code}", site=site, ae_title="PACS", host="127.0.0.1", port=1
        ),
        created_by=curator,
    )

    from pydicom.uid import generate_uid

    from results.models import ResultDelivery, ResultKind, ResultObject

    result = ResultObject.objects.create(
        case=predicted,
        kind=ResultKind.AI_SR,
        study_instance_uid=predicted.study.study_instance_uid,
        series_instance_uid=generate_uid(),  # the study's UID may already be 64 characters
        sop_instance_uid=generate_uid(),
        sop_class_uid="1.2.840.10008.5.1.4.1.1.88.34",
        file=f"results/{predicted.pk}/sr.dcm",
        sha256="0" * 64,
    )
    ResultDelivery.objects.create(result=result, destination=destination, status="gave_up", attempts=3)

    image = predicted.images.get()
    data = SiteData(
        code=site.code,
        uploader=uploader.username,
        case=predicted,
        image=image,
        prediction=Prediction.objects.get(image=image),
        study=predicted.study,
        failed=failed,
        disputed=disputed,
        disputed_image=disputed_image,
        batch_id=str(report.batch_id),
        tryout=tryout,
        tryout_to_delete=made[1],
        webhook=webhook,
        destination=destination,
        result=result,
    )
    data.strings = sorted(
        {
            site.code,
            site.name,
            f"PATREF-{site.code}",
            data.batch_id,
            webhook.name,
            webhook.url,
            destination.name,
            *(str(t.pk) for t in made),
            *(p.name for p in [*files, *tryouts]),
            *(user.username for user in [uploader, *readers]),
            *(c.study.study_instance_uid for c in cases),
            *(c.study.patient.pseudonym for c in cases if c.study.patient is not None),
            *(i.sop_instance_uid for c in cases for i in c.images.all()),
            *(i.storage_prefix for c in cases for i in c.images.all()),
        }
    )
    assert IntakeBatch.objects.filter(pk=report.batch_id).exists()
    return data


def _build(data_dir: Path, random_bundle: Path) -> World:
    from api.services.tokens import token_create, token_revoke
    from cases.models import ReviewPolicy, Site, Task
    from inference.services import model_version_activate, model_version_register
    from lifecycle.models import ModelChange

    own = Site.objects.create(code="uh-radiology", name="University Hospital Radiology")
    foreign = Site.objects.create(code="cc-oncology", name="City Clinic Oncology")
    users = {
        name: _make_user(name, role, site, **extra)
        for name, role, site, extra in [
            ("rad.uh", Role.RADIOLOGIST, own, {}),
            ("rev.uh", Role.REVIEWER, own, {}),
            ("rev2.uh", Role.REVIEWER, own, {}),
            ("pacs.uh", Role.INTEGRATION, own, {}),
            ("nobody.uh", None, own, {}),
            ("cur.all", Role.CURATOR, None, {"is_staff": True}),
            ("rad.cc", Role.RADIOLOGIST, foreign, {}),
            ("rev.cc", Role.REVIEWER, foreign, {}),
            ("rev2.cc", Role.REVIEWER, foreign, {}),
        ]
    }
    version, _ = model_version_register(bundle_dir=random_bundle)
    model_version_activate(version=version)
    ReviewPolicy.objects.create(task=Task.BRAIN_MRI, readers_required=2)

    glioma, meningioma, pituitary, notumor = (
        _jpegs(data_dir, label) for label in ("glioma", "meningioma", "pituitary", "notumor")
    )
    sites = {
        OWN: _site_data(
            own,
            users["rad.uh"],
            [users["rev.uh"], users["rev2.uh"]],
            users["cur.all"],
            glioma[:3],
            pituitary[:2],
        ),
        FOREIGN: _site_data(
            foreign,
            users["rad.cc"],
            [users["rev.cc"], users["rev2.cc"]],
            users["cur.all"],
            meningioma[:3],
            pituitary[2:4],
        ),
    }

    tokens: dict[str, str] = {}
    for who in PRINCIPALS:
        if who.kind == "token":
            tokens[who.name] = token_create(
                user=users[str(who.username)], name=who.name, scopes=sorted(who.scopes)
            ).value
    revoked = token_create(user=users["pacs.uh"], name="revoked", scopes=ALL_SCOPES)
    token_revoke(token=revoked.token)
    tokens["revoked-token"] = revoked.value
    expired = token_create(user=users["pacs.uh"], name="expired", scopes=ALL_SCOPES)
    ApiToken.objects.filter(pk=expired.token.pk).update(expires_at=timezone.now() - timedelta(days=1))
    tokens["expired-token"] = expired.value
    return World(
        sites=sites,
        model=version,
        tokens=tokens,
        session_user=users["rad.uh"],
        upload_jpeg=notumor[0],
        score_jpeg=notumor[1],
        snapshot=_snapshot(own, users["rad.uh"], notumor[2:4] + pituitary[4:6]),
        model_change=ModelChange.objects.create(
            task=version.task, kind=ModelChange.Kind.PROMOTE, version=version, before=[], after=[]
        ),
    )


def _snapshot(site: Any, uploader: Any, extra: list[Path]) -> Any:
    """A brain MRI snapshot (no test split) over both sites' cases plus two notumor and two pituitary images."""
    from django.utils import timezone

    from cases.models import AuditSource, Image
    from cases.services.audit import AuditContext
    from cases.services.intake import intake_sources
    from curation.models import Example, Provenance
    from curation.services.snapshots import snapshot_freeze

    report = intake_sources(
        uploads=[(p.name, p.read_bytes()) for p in extra],
        site=site,
        user=uploader,
        source="web",
        task="brain_mri",
    )
    assert len(report.accepted) == len(extra) == 4, report.to_dict()
    label_of = {
        item.image_id: label
        for item, label in zip(report.accepted, ["notumor"] * 2 + ["pituitary"] * 2, strict=True)
    }
    by_site = {"uh-radiology": "glioma", "cc-oncology": "meningioma"}
    for image in Image.objects.select_related("case__site"):
        Example.objects.create(
            image=image,
            case=image.case,
            site=image.case.site,
            task="brain_mri",
            label=label_of.get(image.pk) or by_site[image.case.site.code],
            provenance=Provenance.CORRECTED,
            group=f"group-{image.pk}",
            labelled_at=timezone.now(),
        )
    return snapshot_freeze(
        task="brain_mri", test_fraction=0.0, audit=AuditContext.system(source=AuditSource.CLI)
    )


@pytest.fixture(scope="module")
def world(
    django_db_setup: None, django_db_blocker: Any, data_dir: Path, random_bundle: Path, tmp_path_factory: Any
) -> Iterator[World]:
    """Built once for the module in a transaction rolled back at its end; its files in one media folder."""
    media = tmp_path_factory.mktemp("matrix-media")
    storages = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(media)},
        },
    }
    with (
        override_settings(STORAGES=storages, MEDIA_ROOT=str(media), API_AUTH_FAILURES_PER_MINUTE=10**6),
        django_db_blocker.unblock(),
        transaction.atomic(),
    ):
        built = _build(data_dir, random_bundle)
        yield built
        transaction.set_rollback(True)


@pytest.fixture(autouse=True)
def _isolated_media() -> None:
    """Overrides the per-test media folder of tests/conftest.py: the module's world keeps its files."""


@pytest.fixture
def clients(world: World, db: None) -> dict[str, APIClient]:
    made: dict[str, APIClient] = {}
    for who in PRINCIPALS:
        if who.kind in ("session", "session-no-csrf"):
            client = APIClient(enforce_csrf_checks=True)
            client.force_login(world.session_user)
            client.cookies[settings.CSRF_COOKIE_NAME] = CSRF_SECRET
        else:
            client = APIClient()
            if who.name in world.tokens:
                client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.tokens[who.name]}")
        made[who.name] = client
    return made


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

    @property
    def columns(self) -> tuple[str, ...]:
        return (OWN,) if self.scoping == GLOBAL else (OWN, FOREIGN)

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


# --- Deriving the expected status ----------------------------------------------
def visible(endpoint: Endpoint, who: Principal, which: str) -> bool:
    """Whether the account may see the object (or act on the site) the call names."""
    if endpoint.scoping == GLOBAL:
        return True
    if endpoint.scoping in (SITE, SITE_BODY):
        return who.all_sites or which == OWN  # every site account here belongs to the own site
    owner = who.username == UPLOADERS[which]
    if endpoint.scoping == OWNER:
        return owner
    return owner or who.all_sites  # OWNER_OR_ALL


def expected(endpoint: Endpoint, who: Principal, which: str) -> frozenset[int]:
    if who.kind in ("anonymous", "rejected"):
        return frozenset({401})
    if who.kind == "session-no-csrf" and endpoint.method not in SAFE:
        return frozenset({403})  # SessionAuthentication's CSRF check, before anything else is looked at
    if who.role is None or endpoint.scope not in who.scopes:
        return frozenset({403})
    if endpoint.permission and endpoint.permission not in who.permissions:
        return frozenset({403})  # the role, checked before the object is looked up
    if not visible(endpoint, who, which):
        return frozenset({400}) if endpoint.scoping == SITE_BODY else frozenset({404})
    return endpoint.ok


def forbidden_strings(who: Principal, world: World) -> set[str]:
    """What this principal's answers must never contain."""
    if who.username is None or who.kind == "rejected":
        return {s for data in world.sites.values() for s in data.strings}
    hidden: set[str] = set()
    if not who.all_sites:
        hidden |= set(world[FOREIGN].strings)
    for data in world.sites.values():  # try-outs are their maker's alone, Curators' included
        if who.username != data.uploader:
            hidden |= {str(data.tryout.pk), str(data.tryout_to_delete.pk)}
    return hidden


# --- Calling -------------------------------------------------------------------
@dataclass
class Answer:
    status: int
    content: bytes
    headers: dict[str, str]


def call(client: APIClient, endpoint: Endpoint, who: Principal, which: str, world: World) -> Answer:
    """One call inside a savepoint that is rolled back: no cell sees another's writes."""
    path = endpoint.path(world, which)
    extra: dict[str, Any] = {}
    if who.kind == "session" and endpoint.method not in SAFE:
        extra["HTTP_X_CSRFTOKEN"] = CSRF_SECRET
    data = endpoint.body(world, who, which) if endpoint.body else None
    cache.clear()  # throttle and failed-sign-in counters
    with transaction.atomic():
        send = getattr(client, endpoint.method.lower())
        if endpoint.multipart:
            response = send(path, data, format="multipart", **extra)
        elif data is not None:
            response = send(path, data, format="json", **extra)
        else:
            response = send(path, **extra)
        # The test client closes the response itself (a streamed one once read); closing it again
        # here would fire request_finished, whose handler closes the connection mid-transaction.
        content = b"".join(response.streaming_content) if response.streaming else response.content
        transaction.set_rollback(True)
    return Answer(response.status_code, content, {k.lower(): v for k, v in response.headers.items()})


def problems_of(answer: Answer, endpoint: Endpoint, who: Principal, which: str, world: World) -> list[str]:
    found = []
    want = expected(endpoint, who, which)
    text = answer.content.decode("latin-1")
    if answer.status not in want:
        found.append(f"status {answer.status}, expected {sorted(want)}: {text[:300]}")
    if answer.status >= 400:
        try:
            body = json.loads(answer.content)
        except ValueError:
            body = None
        if not isinstance(body, dict) or set(body) != ERROR_KEYS:
            found.append(f"error body is not {{code, message, errors}}: {text[:300]}")
    if answer.status == 401 and not answer.headers.get("www-authenticate", "").startswith("Bearer"):
        found.append(f"401 without a Bearer challenge: {answer.headers.get('www-authenticate')!r}")
    leaked = sorted(s for s in forbidden_strings(who, world) if s in text)
    if leaked:
        found.append(f"foreign data in the body: {leaked}")
    if endpoint.shows and 200 <= answer.status < 300:
        sites = (
            [s for s in (OWN, FOREIGN) if who.all_sites or s == OWN]
            if endpoint.scoping == GLOBAL
            else [which]
        )
        missing = [s for site in sites for s in endpoint.shows(world, site) if s not in text]
        if missing:
            found.append(f"the answer lacks {missing}")
    return found


def cells(endpoint: Endpoint) -> Iterator[tuple[Principal, str]]:
    for who in PRINCIPALS:
        for which in endpoint.columns:
            yield who, which


# --- Tests ---------------------------------------------------------------------
def test_every_route_has_a_row() -> None:
    """A route or method added to api/urls.py without a row in ENDPOINTS fails here."""
    routed: set[tuple[str | None, str]] = set()
    for pattern in api.urls.urlpatterns:
        if pattern.callback is api_not_found or getattr(pattern, "name", None) in UNLISTED:
            continue
        view = pattern.callback.view_class  # type: ignore[attr-defined]
        for method in ("get", "post", "put", "patch", "delete"):
            if hasattr(view, method):
                routed.add((pattern.name, method.upper()))
    table: list[tuple[str | None, str]] = [(e.name, e.method) for e in ENDPOINTS]
    assert len(table) == len(set(table)), "a route and method twice in ENDPOINTS"
    rows = set(table)
    assert routed == rows, f"missing rows: {routed - rows}; rows without a route: {rows - routed}"


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_access(endpoint: Endpoint, world: World, clients: dict[str, APIClient]) -> None:
    problems = []
    for who, which in cells(endpoint):
        answer = call(clients[who.name], endpoint, who, which, world)
        for problem in problems_of(answer, endpoint, who, which, world):
            problems.append(f"{endpoint} as {who.name}, {which} site: {problem}")
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)


def test_a_browser_session_needs_the_csrf_token_for_unsafe_calls(
    world: World, clients: dict[str, APIClient]
) -> None:
    patch = next(e for e in ENDPOINTS if (e.name, e.method) == ("case_detail", "PATCH"))
    bare = call(clients["session-no-csrf"], patch, PRINCIPALS[-1], OWN, world)
    assert bare.status == 403 and "CSRF" in json.loads(bare.content)["message"]
    with_token = call(clients["session"], patch, PRINCIPALS[-2], OWN, world)
    assert with_token.status == 200, with_token.content
    assert json.loads(with_token.content)["priority"] == 1


def test_the_matrix_reaches_every_outcome() -> None:
    """Each denial the API has is exercised somewhere, and every row has cells that succeed."""
    outcomes: dict[int, int] = {}
    for endpoint in ENDPOINTS:
        allowed = 0
        for who, which in cells(endpoint):
            want = expected(endpoint, who, which)
            for status in want:
                outcomes[status] = outcomes.get(status, 0) + 1
            allowed += want == endpoint.ok
        assert allowed, f"{endpoint}: no principal may call it"
    assert {400, 401, 403, 404} <= set(outcomes), outcomes


def _fixed(method: str, path: str, body: dict[str, Any] | None) -> Endpoint:
    """A one-off call for ``call``: a fixed path and body."""

    def to(w: World, which: str) -> str:
        return path

    def send(w: World, who: Principal, which: str) -> dict[str, Any]:
        return dict(body or {})

    return Endpoint("one-off", method, to, Scope.READ, body=send if body is not None else None)


def test_a_foreign_object_named_in_a_body_or_query_is_refused_unseen(
    world: World, clients: dict[str, APIClient]
) -> None:
    """The own site's object in the path, the foreign site's in the body or the query string."""
    own, foreign = world[OWN], world[FOREIGN]
    by_name = {who.name: who for who in PRINCIPALS}
    review = f"{V1}/cases/{own.case.pk}/reviews/"
    decide = f"{V1}/cases/{own.disputed.pk}/adjudications/"
    checks: list[tuple[str, str, str, dict[str, Any] | None, int]] = [
        ("reviewer", "POST", review, {"image": foreign.image.pk, "label": "glioma"}, 404),
        ("curator", "POST", review, {"image": foreign.image.pk, "label": "glioma"}, 404),
        ("curator", "POST", decide, {"image": foreign.disputed_image.pk, "label": "glioma"}, 404),
        ("radiologist", "GET", f"{V1}/cases/?site={foreign.code}", None, 400),
        ("integration-read", "GET", f"{V1}/cases/?site={foreign.code}", None, 400),
        ("curator", "GET", f"{V1}/cases/?site={foreign.code}", None, 200),
    ]
    problems = []
    for name, method, path, body, status in checks:
        who = by_name[name]
        answer = call(clients[name], _fixed(method, path, body), who, OWN, world)
        text = answer.content.decode("latin-1")
        if answer.status != status:
            problems.append(f"{method} {path} as {name}: {answer.status}, expected {status}: {text[:300]}")
        leaked = sorted(s for s in forbidden_strings(who, world) if s in text)
        if leaked:
            problems.append(f"{method} {path} as {name}: foreign data {leaked}")
        if who.all_sites and answer.status == 200 and f'"site":"{own.code}"' in text:
            problems.append(f"{method} {path} as {name}: the site filter let the own site's cases through")
    assert not problems, "\n".join(problems)
