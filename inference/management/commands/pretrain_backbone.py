"""`manage.py pretrain_backbone ...`: multi-task pre-training for `train_model --init-from`."""

from __future__ import annotations

from typing import Any

from oncocore.training.pretrain import get_args_parser, main

from ._trainer_cli import TrainerCommand


class Command(TrainerCommand):
    help = (
        "Pre-train one backbone on the training sides of several data sets (same flags as "
        "`python -m oncocore.training.pretrain`); fine-tune it with `train_model --init-from`."
    )
    trainer_parser = staticmethod(get_args_parser)
    trainer_main = staticmethod(main)

    def handle(self, *args: Any, **opts: Any) -> None:
        self.run_trainer(self.trainer_args(opts))
