"""The web UI's table: per URL name and method, the call, the permission it needs and how its object is scoped.

The web views decide in this order: signed in (else LoginRequiredMiddleware
redirects to the login page), a UI role (integration and role-less accounts
get 403), ``need`` (a permission checked before any object is looked up: the
Curator pages), the object (404 for one the account may not see, exactly as
for one that does not exist), then ``after`` (a permission checked once the
object is found: "404 before 403", so a 403 never confirms that another
site's case exists).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from cases.models import Role
from tests.access.principals import FOREIGN, GLOBAL, MISSING, OWN, OWNER, OWNER_OR_ALL, SITE, Principal
from tests.access.world import World

CURATE = "curation.curate_dataset"
PROMOTE = "lifecycle.promote_model"

WEB_PRINCIPALS = [
    Principal("anonymous", "anonymous"),
    Principal("no-role", "session", "nobody.uh", None),
    Principal("integration", "session", "pacs.uh", Role.INTEGRATION),
    Principal("radiologist", "session", "rad.uh", Role.RADIOLOGIST),
    Principal("reviewer", "session", "rev.uh", Role.REVIEWER),
    Principal("curator", "session", "cur.all", Role.CURATOR),
    Principal("superuser", "session", "admin.all", None, superuser=True),
]
UI_ROLES = {Role.RADIOLOGIST, Role.REVIEWER, Role.CURATOR}

Path_ = Callable[[World, str], str]
Form = Callable[[World, str], dict[str, Any]]


@dataclass(frozen=True)
class Page:
    name: str  # "namespace:name" in the URL resolver
    method: str
    path: Path_
    need: str | None = None  # checked before the object is looked up
    scoping: str = SITE
    after: str | None = None  # checked after the object is found
    body: Form | None = None
    ok: frozenset[int] = frozenset({200})
    # What an allowed answer must show, per site the account sees (a list that showed nothing would
    # pass the leak check trivially).
    shows: Callable[[World, str], list[str]] | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return (OWN,) if self.scoping == GLOBAL else (OWN, FOREIGN, MISSING)

    def __str__(self) -> str:
        return f"{self.method} {self.name}"


def _jpeg(w: World) -> SimpleUploadedFile:
    return SimpleUploadedFile(w.upload_jpeg.name, w.upload_jpeg.read_bytes(), content_type="image/jpeg")


def _ok(*statuses: int) -> frozenset[int]:
    return frozenset(statuses)


REDIRECT = _ok(302)
GET_OR_BAD = _ok(200, 400)  # a page whose filters are required: without them, 400 with the reason

PAGES: list[Page] = [
    # --- Cases: the worklist, uploads, one case, its images (the viewer) ---
    Page(
        "cases:worklist",
        "GET",
        lambda w, s: "/",
        scoping=GLOBAL,
        shows=lambda w, s: [f"/cases/{w[s].case.pk}/"],
    ),
    Page(
        "cases:case_statuses",
        "GET",
        lambda w, s: f"/cases/status.json?ids={w[OWN].case.pk},{w[FOREIGN].case.pk}",
        scoping=GLOBAL,
    ),
    Page("cases:worklist_new", "GET", lambda w, s: "/cases/new.json?after=0", scoping=GLOBAL),
    Page(
        "cases:adjudication_queue",
        "GET",
        lambda w, s: "/adjudication/",
        "cases.adjudicate_case",
        GLOBAL,
        shows=lambda w, s: [f"/cases/{w[s].disputed.pk}/"],
    ),
    Page("cases:upload", "GET", lambda w, s: "/upload/", "cases.upload_study", GLOBAL),
    Page(
        "cases:upload",
        "POST",
        lambda w, s: "/upload/",
        "cases.upload_study",
        GLOBAL,
        body=lambda w, s: {"files": _jpeg(w), "task": "brain_mri", "site": ""},
        ok=_ok(302, 400),  # a Curator (no site of their own) must name one: 400 says so
    ),
    Page("cases:upload_result", "GET", lambda w, s: f"/upload/{w[s].batch_id}/", scoping=OWNER_OR_ALL),
    Page("cases:case_detail", "GET", lambda w, s: f"/cases/{w[s].case.pk}/"),
    Page(
        "cases:case_task",
        "POST",
        lambda w, s: f"/cases/{w[s].case.pk}/task/",
        after="cases.change_case",
        body=lambda w, s: {"task": "brain_mri"},
        ok=REDIRECT,
    ),
    Page(
        "cases:case_priority",
        "POST",
        lambda w, s: f"/cases/{w[s].case.pk}/priority/",
        after="cases.change_case",
        body=lambda w, s: {"priority": "1"},
        ok=REDIRECT,
    ),
    Page(
        "cases:review_submit",
        "POST",
        lambda w, s: f"/cases/{w[s].case.pk}/images/{w[s].image.pk}/review/",
        after="cases.review_case",
        body=lambda w, s: {"label": "glioma"},
        ok=REDIRECT,
    ),
    Page(
        "cases:adjudication_submit",
        "POST",
        lambda w, s: f"/cases/{w[s].disputed.pk}/images/{w[s].disputed_image.pk}/adjudicate/",
        after="cases.adjudicate_case",
        body=lambda w, s: {"label": "glioma"},
        ok=REDIRECT,
    ),
    Page("cases:image_thumbnail", "GET", lambda w, s: f"/images/{w[s].image.pk}/thumbnail.png"),
    Page("cases:image_frame", "GET", lambda w, s: f"/images/{w[s].image.pk}/frames/0.png"),
    Page("cases:image_pixels", "GET", lambda w, s: f"/images/{w[s].image.pk}/frames/0/pixels"),
    Page("cases:image_header", "GET", lambda w, s: f"/images/{w[s].image.pk}/header.json"),
    # --- Predictions, retry, results to the PACS ---
    Page("inference:prediction_file", "GET", lambda w, s: f"/predictions/{w[s].prediction.pk}/overlay.png"),
    Page(
        "inference:case_retry",
        "POST",
        lambda w, s: f"/cases/{w[s].failed.pk}/retry/",
        after="cases.change_case",
        ok=REDIRECT,
    ),
    Page(
        "results:case_resend",
        "POST",
        lambda w, s: f"/cases/{w[s].case.pk}/results/resend/",
        after="results.change_resultdelivery",
        ok=REDIRECT,
    ),
    # --- Try-outs: their maker's alone ---
    Page("inference:tryout", "GET", lambda w, s: "/tryout/", "cases.upload_study", GLOBAL),
    Page(
        "inference:tryout",
        "POST",
        lambda w, s: "/tryout/",
        "cases.upload_study",
        GLOBAL,
        body=lambda w, s: {"file": _jpeg(w), "task": "brain_mri"},
        ok=REDIRECT,
    ),
    Page("inference:tryout_detail", "GET", lambda w, s: f"/tryout/{w[s].tryout.pk}/", scoping=OWNER),
    Page("inference:tryout_status", "GET", lambda w, s: f"/tryout/{w[s].tryout.pk}.json", scoping=OWNER),
    Page("inference:tryout_image", "GET", lambda w, s: f"/tryout/{w[s].tryout.pk}/image.png", scoping=OWNER),
    Page(
        "inference:tryout_overlay", "GET", lambda w, s: f"/tryout/{w[s].tryout.pk}/overlay.png", scoping=OWNER
    ),
    # An account with a site saves into it (302 to the new case); one without (a Curator) must name a
    # site, and an unknown one is 400. The try-out's row comes back with the savepoint; the rows above,
    # which read its files, run before this one.
    Page(
        "inference:tryout_save",
        "POST",
        lambda w, s: f"/tryout/{w[s].tryout.pk}/save/",
        scoping=OWNER,
        after="cases.upload_study",
        body=lambda w, s: {"site": "no-such-site"},
        ok=_ok(302, 400),
    ),
    Page(
        "inference:tryout_discard",
        "POST",
        lambda w, s: f"/tryout/{w[s].tryout_to_delete.pk}/discard/",
        scoping=OWNER,
        ok=REDIRECT,
    ),
    # --- The Curator pages: the permission first, then global objects ---
    Page("curation:images", "GET", lambda w, s: "/curation/", CURATE, GLOBAL),
    Page(
        "curation:images",
        "POST",
        lambda w, s: "/curation/",
        CURATE,
        GLOBAL,
        body=lambda w, s: {},  # no images ticked: 400 with the form's reasons, after the access checks
        ok=_ok(400),
    ),
    Page("curation:snapshots", "GET", lambda w, s: "/curation/snapshots/", CURATE, GLOBAL),
    Page(
        "curation:snapshots",
        "POST",
        lambda w, s: "/curation/snapshots/",
        CURATE,
        GLOBAL,
        body=lambda w, s: {},
        ok=_ok(400),
    ),
    Page(
        "curation:snapshot_detail",
        "GET",
        lambda w, s: f"/curation/snapshots/{w.snapshot.pk}/",
        CURATE,
        GLOBAL,
    ),
    Page(
        "curation:snapshot_export",
        "GET",
        lambda w, s: f"/curation/snapshots/{w.snapshot.pk}/export.zip",
        CURATE,
        GLOBAL,
    ),
    Page("retraining:jobs", "GET", lambda w, s: "/curation/jobs/", CURATE, GLOBAL),
    Page(
        "retraining:jobs",
        "POST",
        lambda w, s: "/curation/jobs/",
        CURATE,
        GLOBAL,
        body=lambda w, s: {},
        ok=_ok(400),
    ),
    Page("retraining:job", "GET", lambda w, s: f"/curation/jobs/{w.job.pk}/", CURATE, GLOBAL),
    Page("retraining:job_status", "GET", lambda w, s: f"/curation/jobs/{w.job.pk}.json", CURATE, GLOBAL),
    Page(
        "retraining:job_cancel",
        "POST",
        lambda w, s: f"/curation/jobs/{w.job.pk}/cancel/",
        CURATE,
        GLOBAL,
        ok=REDIRECT,
    ),
    Page("lifecycle:models", "GET", lambda w, s: "/curation/models/", CURATE, GLOBAL),
    Page("lifecycle:promote", "GET", lambda w, s: f"/curation/models/{w.model.pk}/promote/", CURATE, GLOBAL),
    Page(
        "lifecycle:promote",
        "POST",
        lambda w, s: f"/curation/models/{w.model.pk}/promote/",
        PROMOTE,
        GLOBAL,
        ok=_ok(200, 302, 409),
    ),
    Page(
        "lifecycle:rollback_version",
        "GET",
        lambda w, s: f"/curation/models/{w.model.pk}/rollback/",
        CURATE,
        GLOBAL,
        ok=_ok(200, 409),
    ),
    Page(
        "lifecycle:rollback_version",
        "POST",
        lambda w, s: f"/curation/models/{w.model.pk}/rollback/",
        PROMOTE,
        GLOBAL,
        ok=_ok(200, 302, 409),
    ),
    Page(
        "lifecycle:rollback",
        "GET",
        lambda w, s: f"/curation/models/changes/{w.model_change.pk}/rollback/",
        CURATE,
        GLOBAL,
        ok=_ok(200, 409),
    ),
    Page(
        "lifecycle:rollback",
        "POST",
        lambda w, s: f"/curation/models/changes/{w.model_change.pk}/rollback/",
        PROMOTE,
        GLOBAL,
        ok=_ok(200, 302, 409),
    ),
    Page("lifecycle:evaluations", "GET", lambda w, s: "/curation/models/evaluations/", CURATE, GLOBAL),
    Page(
        "lifecycle:evaluations",
        "POST",
        lambda w, s: "/curation/models/evaluations/",
        CURATE,
        GLOBAL,
        body=lambda w, s: {},
        ok=_ok(400),
    ),
    Page(
        "lifecycle:evaluation",
        "GET",
        lambda w, s: f"/curation/models/evaluations/{w.evaluation.pk}/",
        CURATE,
        GLOBAL,
    ),
    Page(
        "lifecycle:evaluation_status",
        "GET",
        lambda w, s: f"/curation/models/evaluations/{w.evaluation.pk}.json",
        CURATE,
        GLOBAL,
    ),
    Page("lifecycle:shadows", "GET", lambda w, s: "/curation/models/shadow/", CURATE, GLOBAL),
    Page(
        "lifecycle:shadow_start",
        "POST",
        lambda w, s: "/curation/models/shadow/start/",
        PROMOTE,
        GLOBAL,
        body=lambda w, s: {},
        ok=_ok(400),
    ),
    Page("lifecycle:shadow", "GET", lambda w, s: f"/curation/models/shadow/{w.shadow.pk}/", CURATE, GLOBAL),
    Page(
        "lifecycle:shadow_stop",
        "POST",
        lambda w, s: f"/curation/models/shadow/{w.shadow.pk}/stop/",
        PROMOTE,
        GLOBAL,
        ok=REDIRECT,
    ),
    Page("lifecycle:analytics", "GET", lambda w, s: "/curation/analytics/", CURATE, GLOBAL, ok=GET_OR_BAD),
    Page(
        "lifecycle:analytics_csv",
        "GET",
        lambda w, s: "/curation/analytics/figures.csv",
        CURATE,
        GLOBAL,
        ok=GET_OR_BAD,
    ),
    Page("lifecycle:drift", "GET", lambda w, s: "/curation/drift/", CURATE, GLOBAL),
    Page(
        "lifecycle:drift_reference_build",
        "POST",
        lambda w, s: f"/curation/drift/reference/{w.model.pk}/",
        CURATE,
        GLOBAL,
        ok=REDIRECT,
    ),
    Page("lifecycle:next", "GET", lambda w, s: "/curation/next/", CURATE, GLOBAL),
    # --- The readers' label-next queue ---
    Page("label_next:queue", "GET", lambda w, s: "/label-next/", "cases.review_case", GLOBAL),
]


def ui_user(who: Principal) -> bool:
    return who.superuser or who.role in UI_ROLES
