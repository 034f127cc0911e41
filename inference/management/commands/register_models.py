"""Register every bundle shipped under ONCOPORTAL_MODELS_DIR; used by `make run` and the web container."""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.models.case import TASK_CLASSES
from inference import registry
from inference.models import ModelVersion
from inference.services import model_version_activate, model_version_register
from oncoportal.exceptions import DomainError


class Command(BaseCommand):
    help = "Register all bundles in ONCOPORTAL_MODELS_DIR (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dir", type=Path, default=None, help="bundle root (default: settings.MODELS_DIR)")
        parser.add_argument(
            "--activate-missing", action="store_true", help="activate a bundle for every task with no active model"
        )
        parser.add_argument(
            "--untrained-fallback",
            action="store_true",
            help="for a task with no bundle at all, create and activate a random-weight stand-in "
            "(marked untrained everywhere; never a diagnosis)",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        root = (opts["dir"] or Path(settings.MODELS_DIR)).resolve()
        bundles = sorted(p.parent for p in root.glob("*/" + registry.CARD_FILE)) if root.is_dir() else []
        versions = []
        for bundle in bundles:
            try:
                version, created = model_version_register(bundle_dir=bundle)
            except DomainError as exc:
                raise CommandError(exc.message) from exc
            versions.append(version)
            self.stdout.write(f"{'registered' if created else 'present   '} {version.label} ({version.task})")
        if opts["untrained_fallback"]:
            covered = {v.task for v in versions if not v.untrained}
            for task, classes in TASK_CLASSES.items():
                if task in covered:
                    continue
                folder = Path(settings.VAR_DIR) / "untrained-models" / task
                if not (folder / registry.CARD_FILE).exists():
                    registry.make_random_bundle(folder, task=task, class_names=classes, overwrite=True)
                version, _ = model_version_register(bundle_dir=folder)
                versions.append(version)
                self.stdout.write(f"stand-in   {version.label} ({task}): no trained model shipped for this task")
        if opts["activate_missing"] or opts["untrained_fallback"]:
            for task in sorted({v.task for v in versions}):
                active = ModelVersion.objects.filter(task=task, status=ModelVersion.Status.ACTIVE)
                # Prefer trained bundles, then the newest.
                best = sorted((v for v in versions if v.task == task), key=lambda v: (not v.untrained, v.created_at))[-1]
                if active.filter(untrained=False).exists() or (active.exists() and best.untrained):
                    continue
                # Nothing active, or only an untrained stand-in while a trained bundle is here:
                # the trained one takes over and the stand-in retires.
                model_version_activate(version=best, exclusive=True)
                self.stdout.write(f"activated  {best.label} for {task}")
