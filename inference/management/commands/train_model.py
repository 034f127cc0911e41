"""`manage.py train_model ...`: the Django-free trainer, with an option to register the exported bundle."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.services import model_version_activate, model_version_register
from inference.training.args import get_args_parser
from inference.training.train import main as train_main
from oncoportal.exceptions import DomainError


class Command(BaseCommand):
    help = (
        "Train a classifier (same flags as `python -m inference.training.train`); "
        "with --register, register (and with --activate, activate) the exported bundle."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # Reuse the trainer's own flags and help texts: one definition of the CLI.
        for action in get_args_parser(add_help=False)._actions:
            parser._add_action(action)
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--register", action="store_true", help="register the exported bundle")
        parser.add_argument("--activate", action="store_true", help="with --register: activate it for its task")

    def handle(self, *args: Any, **opts: Any) -> None:
        trainer_keys = {a.dest for a in get_args_parser(add_help=False)._actions}
        train_args = argparse.Namespace(**{k: v for k, v in opts.items() if k in trainer_keys})
        if opts["register"] and not train_args.export_bundle:
            raise CommandError("--register needs --export-bundle DIR")
        try:
            summary = train_main(train_args)
        except (ValueError, FileNotFoundError) as exc:
            raise CommandError(str(exc).splitlines()[0]) from exc
        self.stdout.write(json.dumps(summary, indent=2, default=str))
        if opts["register"]:
            try:
                version, _ = model_version_register(bundle_dir=Path(train_args.export_bundle))
                if opts["activate"]:
                    model_version_activate(version=version)
            except DomainError as exc:
                raise CommandError(exc.message) from exc
            self.stdout.write(f"registered {version.label} ({version.task}), status {version.status}")
