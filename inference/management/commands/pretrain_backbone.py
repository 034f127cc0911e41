"""`manage.py pretrain_backbone ...`: multi-task pre-training for `train_model --init-from`."""

from __future__ import annotations

import argparse
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.training.pretrain import get_args_parser
from inference.training.pretrain import main as pretrain_main


class Command(BaseCommand):
    help = (
        "Pre-train one backbone on the training sides of several data sets (same flags as "
        "`python -m inference.training.pretrain`); fine-tune it with `train_model --init-from`."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        for action in get_args_parser(add_help=False)._actions:
            parser._add_action(action)
        return parser

    def handle(self, *args: Any, **opts: Any) -> None:
        keys = {a.dest for a in get_args_parser(add_help=False)._actions}
        try:
            summary = pretrain_main(argparse.Namespace(**{k: v for k, v in opts.items() if k in keys}))
        except (ValueError, FileNotFoundError) as exc:
            raise CommandError(str(exc).splitlines()[0]) from exc
        self.stdout.write(json.dumps(summary, indent=2, default=str))
