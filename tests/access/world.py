"""The world every cell is called against: two sites, their objects, accounts and tokens."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from api.models import ApiToken
from cases.models import Role
from tests.access.principals import (
    ALL_SCOPES,
    FOREIGN,
    MISSING,
    MISSING_PK,
    MISSING_UID,
    MISSING_UUID,
    OWN,
    PRINCIPALS,
)


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
    dicom: Any = None  # an Image stored from a DICOM file (DICOMweb serves only those), with series and study
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
    users: dict[str, Any] = field(default_factory=dict)  # username -> user
    job: Any = None  # a queued training job of the snapshot (global: Curators)
    evaluation: Any = None  # a queued evaluation of ``model`` on the snapshot
    shadow: Any = None  # ``model`` running in shadow
    ghost: SiteData | None = None  # the MISSING column: the same fields, naming objects that do not exist

    def __getitem__(self, which: str) -> SiteData:
        if which == MISSING:
            assert self.ghost is not None
            return self.ghost
        return self.sites[which]


def _ghost() -> SiteData:
    """Objects that do not exist, for the existence-oracle column: ids no row has."""
    gone = SimpleNamespace(
        pk=MISSING_PK,
        study_instance_uid=MISSING_UID,
        series_instance_uid=MISSING_UID,
        sop_instance_uid=MISSING_UID,
        name="no such object",
    )
    gone_uuid = SimpleNamespace(pk=MISSING_UUID)
    gone_dicom = SimpleNamespace(
        pk=MISSING_PK,
        sop_instance_uid=MISSING_UID,
        series=SimpleNamespace(
            series_instance_uid=MISSING_UID, study=SimpleNamespace(study_instance_uid=MISSING_UID)
        ),
    )
    return SiteData(
        code="no-such-site",
        uploader="",
        case=gone,
        image=gone,
        prediction=gone,
        study=gone,
        failed=gone,
        disputed=gone,
        disputed_image=gone,
        batch_id=MISSING_UUID,
        tryout=gone_uuid,
        tryout_to_delete=gone_uuid,
        webhook=gone,
        destination=gone,
        result=gone,
        dicom=gone_dicom,
    )


def _make_user(username: str, role: str | None, site: Any, **extra: Any) -> Any:
    from tests.conftest import _make_user as make

    return make(username, role, site, **extra)


def _jpegs(data_dir: Path, label: str) -> list[Path]:
    return sorted((data_dir / "brain_mri" / "train" / label).glob("*.jpg"))


def _site_data(
    site: Any,
    uploader: Any,
    readers: list[Any],
    curator: Any,
    files: list[Path],
    tryouts: list[Path],
    dicom: Path,
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

    from cases.models import Image

    stored = intake_sources(
        uploads=[(dicom.name, dicom.read_bytes())], site=site, user=uploader, source="web"
    )
    assert len(stored.accepted) == 1, stored.to_dict()
    dicom_image = Image.objects.select_related("series__study__patient").get(
        pk=int(stored.accepted[0].image_id or 0)
    )

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
        dicom=dicom_image,
    )
    dicom_study = dicom_image.series.study
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
            dicom_image.sop_instance_uid,
            dicom_image.series.series_instance_uid,
            dicom_study.study_instance_uid,
            dicom_image.storage_prefix,
            *([dicom_study.patient.pseudonym] if dicom_study.patient is not None else []),
        }
    )
    assert IntakeBatch.objects.filter(pk=report.batch_id).exists()
    return data


def _build(data_dir: Path, random_bundle: Path) -> World:
    from api.services.tokens import token_create, token_revoke
    from cases.models import ReviewPolicy, Site, Task
    from inference.services import model_version_activate, model_version_register
    from lifecycle.models import Evaluation, ModelChange, ShadowDeployment
    from retraining.models import TrainingJob

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
            ("admin.all", None, None, {"is_staff": True, "is_superuser": True}),
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
            data_dir / "dicom" / "pydicom" / "CT_small.dcm",
        ),
        FOREIGN: _site_data(
            foreign,
            users["rad.cc"],
            [users["rev.cc"], users["rev2.cc"]],
            users["cur.all"],
            meningioma[:3],
            pituitary[2:4],
            data_dir / "dicom" / "pydicom" / "MR_small.dcm",
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
    snapshot = _snapshot(own, users["rad.uh"], notumor[2:4] + pituitary[4:6])
    return World(
        sites=sites,
        model=version,
        tokens=tokens,
        session_user=users["rad.uh"],
        upload_jpeg=notumor[0],
        score_jpeg=notumor[1],
        snapshot=snapshot,
        ghost=_ghost(),
        users=users,
        job=TrainingJob.objects.create(
            snapshot=snapshot, task=version.task, recipe="tiny", created_by=users["cur.all"]
        ),
        evaluation=Evaluation.objects.create(
            task=version.task, snapshot=snapshot, candidate=version, created_by=users["cur.all"]
        ),
        shadow=ShadowDeployment.objects.create(
            task=version.task, candidate=version, started_by=users["cur.all"]
        ),
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
