"""Management commands that wrap a Django-free trainer's argparse CLI (one definition of the flags)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class TrainerCommand(BaseCommand):
    """Adds ``trainer_parser``'s flags and help texts; ``run_trainer`` calls ``trainer_main`` with them."""

    trainer_parser: Callable[..., argparse.ArgumentParser]
    trainer_main: Callable[[argparse.Namespace], dict[str, Any]]

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        for action in type(self).trainer_parser(add_help=False)._actions:
            parser._add_action(action)
        return parser

    def trainer_args(self, opts: dict[str, Any]) -> argparse.Namespace:
        keys = {a.dest for a in type(self).trainer_parser(add_help=False)._actions}
        return argparse.Namespace(**{k: v for k, v in opts.items() if k in keys})

    def run_trainer(self, args: argparse.Namespace) -> dict[str, Any]:
        """Run it, print its summary as JSON; bad data or options become one-line CommandErrors."""
        try:
            summary = type(self).trainer_main(args)
        except (ValueError, FileNotFoundError) as exc:
            raise CommandError(str(exc).splitlines()[0]) from exc
        self.stdout.write(json.dumps(summary, indent=2, default=str))
        return summary
