"""Try-out writes: start one (validate, store, queue), save it as a case, discard it.

The image is checked and de-identified by the intake's own ``prepare`` and
limits, so a try-out accepts exactly what an upload would. Files are written
before the row and removed again if the row fails; deleting goes files first.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from cases.models import Image, ImageKind, IntakeBatch, Site, User
from cases.permissions import can_upload
from cases.services.audit import AuditContext, audit_record
from cases.services.intake import deid_options, intake_limits, intake_sources
from cases.services.intake_store import delete_orphans
from cases.task_registry import task_get
from inference.models import TryOut
from inference.services import active_versions
from inference.tasks import run_tryout
from inference.tryout.worker import tryout_delete_files
from oncocore.imaging import Prepared, Rejected, SourceFile, neutral_name, prepare
from oncocore.imaging.archive import archive_kind
from oncoportal.exceptions import InvalidInput

logger = logging.getLogger(__name__)

NO_UPLOAD_MESSAGE = "Your role cannot upload studies, so it cannot save a try-out as a case."


def tryout_start(*, user: User, task: str, upload: File, audit: AuditContext | None = None) -> TryOut:
    """Check one uploaded image, store it de-identified, and queue it for the task's active model.

    Raises InvalidInput with a reason a user can read (unknown task, no active
    model, not one DICOM/JPEG/PNG/TIFF image, over the intake limits), and
    PermissionDenied for a user without upload permission (a try-out stores an
    image and runs the model, as an upload does); nothing is stored then.
    """
    if not can_upload(user):
        raise PermissionDenied("Trying out a model needs upload permission (a Radiologist or Curator role).")
    spec = task_get(task)
    if spec is None:
        raise InvalidInput(f"Unknown task {task!r}.")
    members = active_versions(task=task)
    if not members:
        raise InvalidInput(f"No model is active for {spec.label}; choose another task.")
    prepared = _prepare_one(upload)
    tryout_id = uuid.uuid4()
    prefix = f"tryout/{tryout_id}"
    written: list[str] = []
    try:
        # Files first, then the row: a row never points at a file that is not there.
        written.append(
            default_storage.save(f"{prefix}/source{prepared.stored_ext}", ContentFile(prepared.stored_bytes))
        )
        middle = prepared.display_pngs[len(prepared.display_pngs) // 2]
        written.append(default_storage.save(f"{prefix}/display.png", ContentFile(middle)))
        with transaction.atomic():
            tryout = TryOut.objects.create(
                id=tryout_id,
                user=user,
                site=user.site,
                task=task,
                model_version=members[0],
                original_name=prepared.source_name,
                kind=ImageKind.DICOM if prepared.kind == "dicom" else ImageKind.IMAGE,
                sha256=prepared.sha256,
                storage_prefix=prefix,
                file=written[0],
                display=written[1],
                untrained=any(m.untrained for m in members),
                expires_at=timezone.now() + timedelta(seconds=settings.TRYOUT_TTL_SECONDS),
            )
            audit_record(
                action="tryout.created",
                actor=user,
                obj=tryout,
                site=user.site,
                audit=audit,
                detail={"task": task},
            )
            # After commit, so the worker finds the row. Robust: a broker outage leaves it
            # queued (the page says so) instead of failing a request whose files are stored.
            transaction.on_commit(partial(run_tryout.delay, str(tryout.pk)), robust=True)
    except BaseException:
        delete_orphans(written)
        raise
    return tryout


def _prepare_one(upload: File) -> Prepared:
    """The intake's preparation of one file, or InvalidInput with its reason."""
    limits = intake_limits()
    if upload.size is not None and upload.size > limits.max_file_bytes:
        raise InvalidInput(limits.file_size_reason(upload.size))
    upload.seek(0)
    data = upload.read()
    # The uploaded name may be the patient's: stored and shown as a neutral one (extension kept).
    name = neutral_name(1, str(upload.name or ""))
    try:
        return prepare(
            SourceFile(name=name, data=data),
            limits=limits,
            deid=deid_options(),
            pseudonym_key=settings.PSEUDONYM_KEY.encode(),
        )
    except Rejected as exc:
        kind = archive_kind(data)
        if kind is not None:
            raise InvalidInput(
                f"{kind} archive: a try-out takes one image; use Upload for whole studies."
            ) from None
        raise InvalidInput(exc.reason) from None


def tryout_save_as_case(
    *, tryout: TryOut, user: User, site: Site | None = None, audit: AuditContext | None = None
) -> int:
    """Ingest the try-out's stored file as a new case through the intake, then delete the try-out.

    Returns the new case's id. ``site`` is for users without a site of their
    own. Raises PermissionDenied without upload permission, and InvalidInput
    when the intake does not accept the file (a duplicate, for instance); the
    try-out is kept then.
    """
    if not can_upload(user):
        raise PermissionDenied(NO_UPLOAD_MESSAGE)
    target = user.site if user.site_id is not None else site
    if target is None:
        raise InvalidInput("Choose the site this case belongs to.")
    # Intake knows the stored (de-identified) bytes; the uploaded ones are known only here.
    earlier = Image.objects.filter(sha256=tryout.sha256).values("pk", "case_id").first()
    if earlier is not None:
        raise InvalidInput(
            f"This image was already uploaded (image {earlier['pk']}, case {earlier['case_id']}); nothing added."
        )
    with default_storage.open(tryout.file.name, "rb") as fh:
        data = fh.read()
    report = intake_sources(
        # The stored copy is de-identified (a plain image re-encoded without metadata): the case's image
        # keeps the uploaded bytes' SHA-256, so uploading the original again is caught as a duplicate.
        uploads=[SourceFile(tryout.original_name, data, original_sha256=tryout.sha256)],
        site=target,
        user=user,
        source=IntakeBatch.Source.WEB,
        task=tryout.task,
        audit=audit,
    )
    item = report.items[0]
    if item.status != "accepted" or item.case_id is None:
        raise InvalidInput(f"Not saved: {item.reason or item.status}.")
    try:
        tryout_discard(tryout=tryout, user=user, reason="saved as case", audit=audit)
    except OSError:
        # The case is stored; the leftover try-out goes when it expires.
        logger.warning("could not delete try-out %s after saving it as case %s", tryout.pk, item.case_id)
    return item.case_id


def tryout_discard(
    *,
    tryout: TryOut,
    user: User | None = None,
    reason: str = "discarded",
    audit: AuditContext | None = None,
) -> None:
    """Delete a try-out: its files, then its row. Idempotent.

    Raises OSError when a file cannot be deleted; the row is kept then, so expiry retries.
    """
    tryout_delete_files(storage_prefix=tryout.storage_prefix)
    with transaction.atomic():
        deleted, _ = TryOut.objects.filter(pk=tryout.pk).delete()
        if deleted:
            audit_record(
                action="tryout.deleted",
                actor=user,
                obj=tryout,
                site=tryout.site,
                audit=audit,
                detail={"reason": reason},
            )
