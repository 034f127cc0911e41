"""Register every bundle shipped under ONCOPORTAL_MODELS_DIR; used by `make run` and the web container.

A task whose ensemble beat its best member on validation is declared in
``<dir>/ensembles.json`` (see docs/models.md, "Ensembles")::

    {"histology": {"members": {"histology-cpu": 1.0, "histology-cpu-s1": 1.0},
                   "evidence": "docs/models/ensembles/histology.md"}}

``--activate-missing`` then activates all its members, with these weights,
for a task that has no trained active model yet.

A shipped bundle removed from the folder (replaced by a newer model, as the
ResNet-10s were by the Lite0s) leaves its versions registered but without
weights; ``--activate-missing`` retires those that are still active, so the
task counts as having no model and the shipped one takes over.
"""

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.models import AuditSource
from cases.services.audit import AuditContext
from inference.models import ModelVersion
from inference.services import (
    ensemble_activate,
    model_version_activate,
    model_version_register,
    model_version_retire,
)
from oncocore import registry
from oncocore.tasks import BUILTIN_TASKS
from oncoportal.exceptions import DomainError

ENSEMBLES_FILE = "ensembles.json"


def declared_ensembles(
    root: Path, by_folder: dict[str, ModelVersion]
) -> dict[str, list[tuple[ModelVersion, float]]]:
    """task -> [(version, weight)] from ``<root>/ensembles.json`` (empty without the file).

    Raises:
        CommandError: One line naming what is wrong with the file.
    """
    path = root / ENSEMBLES_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CommandError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise CommandError(f'{path}: must map each task to {{"members": {{bundle folder: weight}}}}')
    ensembles = {}
    for task, spec in data.items():
        members = spec.get("members") if isinstance(spec, dict) else None
        if not isinstance(members, dict) or len(members) < 2:
            raise CommandError(f'{path}: {task}: "members" must map two or more bundle folders to weights')
        pairs = []
        for folder, weight in members.items():
            if folder not in by_folder:
                raise CommandError(f"{path}: {task}: no bundle folder {folder!r} in {root}")
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
                raise CommandError(f"{path}: {task}: the weight of {folder} must be a positive number")
            if by_folder[folder].task != task:
                raise CommandError(
                    f"{path}: {folder} is a {by_folder[folder].task} model, listed under {task}"
                )
            pairs.append((by_folder[folder], float(weight)))
        ensembles[task] = pairs
    return ensembles


def _removed_shipped_versions(root: Path) -> list[ModelVersion]:
    """Active versions registered from a bundle folder directly under ``root`` that is gone."""
    gone = []
    for version in ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).exclude(bundle_path=""):
        bundle = Path(version.bundle_path)
        if bundle.parent.resolve() == root and not (bundle / registry.CARD_FILE).is_file():
            gone.append(version)
    return gone


class Command(BaseCommand):
    help = "Register all bundles in ONCOPORTAL_MODELS_DIR (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dir", type=Path, default=None, help="bundle root (default: settings.MODELS_DIR)"
        )
        parser.add_argument(
            "--activate-missing",
            action="store_true",
            help="activate a bundle for every task with no active model",
        )
        parser.add_argument(
            "--untrained-fallback",
            action="store_true",
            help="for a task with no bundle at all, create and activate a random-weight stand-in "
            "(marked untrained everywhere; never a diagnosis)",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        root = (opts["dir"] or Path(settings.MODELS_DIR)).resolve()
        audit = AuditContext.system(source=AuditSource.CLI)
        bundles = sorted(p.parent for p in root.glob("*/" + registry.CARD_FILE)) if root.is_dir() else []
        versions, by_folder = [], {}
        for bundle in bundles:
            try:
                version, created = model_version_register(bundle_dir=bundle, audit=audit)
            except DomainError as exc:
                raise CommandError(exc.message) from exc
            versions.append(version)
            by_folder[bundle.name] = version
            self.stdout.write(f"{'registered' if created else 'present   '} {version.label} ({version.task})")
        if opts["untrained_fallback"]:
            covered = {v.task for v in versions if not v.untrained}
            # Stand-ins for the built-in tasks only: a task added as data came with its own model.
            for spec in BUILTIN_TASKS:
                task, classes = spec.key, list(spec.classes)
                if task in covered:
                    continue
                folder = Path(settings.VAR_DIR) / "untrained-models" / task
                if not (folder / registry.CARD_FILE).exists():
                    registry.make_random_bundle(folder, task=task, class_names=classes, overwrite=True)
                version, _ = model_version_register(bundle_dir=folder, audit=audit)
                versions.append(version)
                self.stdout.write(
                    f"stand-in   {version.label} ({task}): no trained model shipped for this task"
                )
        ensembles = declared_ensembles(root, by_folder)
        if opts["activate_missing"] or opts["untrained_fallback"]:
            for gone in _removed_shipped_versions(root):
                model_version_retire(version=gone, audit=audit)
                self.stdout.write(f"retired    {gone.label} ({gone.task}): its bundle is no longer shipped")
            for task in sorted({v.task for v in versions}):
                active = ModelVersion.objects.filter(task=task, status=ModelVersion.Status.ACTIVE)
                # Prefer trained bundles, then the newest.
                best = sorted(
                    (v for v in versions if v.task == task), key=lambda v: (not v.untrained, v.created_at)
                )[-1]
                if active.filter(untrained=False).exists() or (active.exists() and best.untrained):
                    continue
                # Nothing active, or only an untrained stand-in while a trained bundle is here:
                # the trained one (or the declared ensemble) takes over and the stand-in retires.
                if task in ensembles:
                    ensemble_activate(members=ensembles[task], audit=audit)
                    listed = ", ".join(f"{v.label} (weight {w:g})" for v, w in ensembles[task])
                    self.stdout.write(f"activated  ensemble {listed} for {task}")
                    continue
                model_version_activate(version=best, exclusive=True, audit=audit)
                self.stdout.write(f"activated  {best.label} for {task}")
