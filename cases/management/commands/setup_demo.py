"""Demo site, demo logins and a few real demo studies (idempotent; refused in production)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.models import AuditSource, IntakeBatch, Role, Site, Task, User
from cases.roles import sync_roles
from cases.services.audit import AuditContext
from cases.services.intake import intake_sources
from oncocore.tasks import BUILTIN_TASKS

DEMO_SITE = ("demo-hospital", "Demo Hospital Radiology")
# username, password, role, is_staff, has a site
DEMO_USERS = [
    ("radiologist", "demo-radiologist", Role.RADIOLOGIST, False, True),
    ("reviewer", "demo-reviewer", Role.REVIEWER, False, True),
    ("reviewer2", "demo-reviewer2", Role.REVIEWER, False, True),  # the second reader of double reads
    ("curator", "demo-curator", Role.CURATOR, True, False),
    ("pacs", "demo-integration", Role.INTEGRATION, False, True),
]
# Folder in the data dir (the task's training data folder, from the registry), task, images per class.
_PER_CLASS: dict[str, int] = {Task.BRAIN_MRI: 2, Task.LUNG_CT: 2, Task.HISTOLOGY: 1}
DEMO_IMAGES = [(t.data_folder, t.key, _PER_CLASS[t.key]) for t in BUILTIN_TASKS]
DEMO_DICOM = ["pydicom/CT_small.dcm", "pydicom/MR_small.dcm", "pydicom/SC_rgb_jpeg_dcmtk.dcm"]


class Command(BaseCommand):
    help = "Create the demo site and logins and load a few real studies from ONCOPORTAL_DATA_DIR."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-studies", action="store_true", help="only the site and logins")

    def handle(self, *args: Any, **opts: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("setup_demo creates accounts with known passwords; refused in production")
        sync_roles()
        site, _ = Site.objects.get_or_create(code=DEMO_SITE[0], defaults={"name": DEMO_SITE[1]})
        for username, password, role, is_staff, with_site in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"site": site if with_site else None, "is_staff": is_staff}
            )
            if created:
                user.set_password(password)
                user.save()
            user.groups.add(Group.objects.get(name=role))
        if not opts["no_studies"]:
            self._load_studies(site, User.objects.get(username="radiologist"))

    def _load_studies(self, site: Site, user: User) -> None:
        data_dir = Path(settings.DATA_DIR)
        if not data_dir.is_dir():
            self.stdout.write(f"no sample data at {data_dir} (set ONCOPORTAL_DATA_DIR); demo has no studies")
            return
        accepted = duplicates = 0
        # Recorded as the demo radiologist's uploads, made from the command line.
        audit = AuditContext.system(source=AuditSource.CLI, actor=user)
        for folder, task, per_class in DEMO_IMAGES:
            for path in _first_per_class(data_dir / folder, per_class):
                report = intake_sources(
                    uploads=[(path.name, path.read_bytes())],
                    site=site,
                    user=user,
                    source=IntakeBatch.Source.DEMO,
                    task=task,
                    audit=audit,
                )
                accepted += len(report.accepted)
                duplicates += len(report.duplicates)
        dicom = [data_dir / "dicom" / name for name in DEMO_DICOM if (data_dir / "dicom" / name).exists()]
        if dicom:
            report = intake_sources(
                uploads=[(p.name, p.read_bytes()) for p in dicom],
                site=site,
                user=user,
                source=IntakeBatch.Source.DEMO,
                audit=audit,
            )
            accepted += len(report.accepted)
            duplicates += len(report.duplicates)
        self.stdout.write(f"demo studies: {accepted} new image(s), {duplicates} already loaded")


def _first_per_class(folder: Path, per_class: int) -> list[Path]:
    """A deterministic, small pick: the first images of each class in the manifest."""
    manifest = folder / "MANIFEST.tsv"
    if not manifest.exists():
        return []
    picked: dict[str, list[Path]] = {}
    with manifest.open(newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            bucket = picked.setdefault(row["class"], [])
            if len(bucket) < per_class and (folder / row["path"]).exists():
                bucket.append(folder / row["path"])
    return [p for paths in picked.values() for p in paths]
