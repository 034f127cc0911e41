"""`manage.py train_model ...`: the Django-free trainer, with an option to register the exported bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from cases.models import AuditSource
from cases.services.audit import AuditContext
from inference.services import model_version_activate, model_version_register
from oncocore.training.args import get_args_parser
from oncocore.training.train import main as train_main
from oncoportal.exceptions import DomainError

from ._trainer_cli import TrainerCommand


class Command(TrainerCommand):
    help = (
        "Train a classifier (same flags as `python -m oncocore.training.train`); "
        "with --register, register (and with --activate, activate) the exported bundle."
    )
    trainer_parser = staticmethod(get_args_parser)
    trainer_main = staticmethod(train_main)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--register", action="store_true", help="register the exported bundle")
        parser.add_argument(
            "--activate", action="store_true", help="with --register: activate it for its task"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        train_args = self.trainer_args(opts)
        if opts["register"] and not train_args.export_bundle:
            raise CommandError("--register needs --export-bundle DIR")
        self.run_trainer(train_args)
        if opts["register"]:
            try:
                audit = AuditContext.system(source=AuditSource.CLI)
                version, _ = model_version_register(bundle_dir=Path(train_args.export_bundle), audit=audit)
                if opts["activate"]:
                    model_version_activate(version=version, audit=audit)
            except DomainError as exc:
                raise CommandError(exc.message) from exc
            self.stdout.write(f"registered {version.label} ({version.task}), status {version.status}")
