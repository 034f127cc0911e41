"""Named training recipes: option sets as data, chosen with ``--recipe NAME``.

A recipe only changes the parser's defaults, so any flag given on the
command line wins over it::

    python -m oncocore.training.train --recipe quick --epochs 3 ...   # quick, but 3 epochs

``recipes()`` lists name -> description (for the retraining form's choices).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["RECIPES", "Recipe", "recipe_options", "recipes"]


@dataclass(frozen=True)
class Recipe:
    """A named set of ``train.py`` option defaults (argparse ``dest`` names)."""

    name: str
    description: str
    options: dict[str, Any] = field(default_factory=dict)


# What the lite0-* recipes share: the plain fine-tune's backbone and optimiser.
_LITE0: dict[str, Any] = {
    "arch": "efficientnet_lite0",
    "pretrained": "imagenet",
    "normalization": "imagenet",
    "input_size": 224,
    "augment": "auto",
    "batch_size": 32,
    "lr": 1e-3,
    "min_lr_ratio": 0.001,
    "label_smoothing": 0.1,
    "select": "last",
    # Lite0's BatchNorm keeps TF's momentum (0.01): over a few hundred CPU steps its running
    # statistics lag far behind the weights. Recomputed on the clean training images after
    # the last epoch of the first brain MRI run, its validation accuracy rose from 0.888 to
    # 0.902; the first lung CT run's from 0.628 to 0.683.
    "precise_bn": True,
}

RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            "smoke",
            "Tests and plumbing checks: a tiny GroupNorm net on 32 px inputs, 2 epochs of a few steps "
            "(seconds on a CPU; the predictions mean nothing).",
            {
                # GroupNorm, not BatchNorm: it has no batch statistics, so a run split
                # over DDP ranks computes exactly what one process computes.
                "arch": "tinycnn_gn",
                "input_size": 32,
                "epochs": 2,
                "batch_size": 4,
                "max_steps_per_epoch": 3,
                "lr": 0.01,
                "warmup_epochs": 0.5,
                "workers": 1,
                "augment": "none",
                "patience": 1000,
            },
        ),
        Recipe(
            "quick",
            "Fine-tune the active model for a few epochs at a low learning rate (minutes on a GPU): "
            "for adding reviewed cases to a model that is already good.",
            {
                "epochs": 8,
                "lr": 2e-4,
                "warmup_epochs": 1.0,
                "min_lr_ratio": 0.05,
                "patience": 4,
                "precise_bn": True,
            },
        ),
        Recipe(
            "standard",
            "The README reference run: ResNet-18 at 224 px, 60 epochs with warm-up and cosine decay, "
            "early stop after 20 epochs without better validation macro-F1 (hours on a GPU).",
            {
                "arch": "resnet18",
                "input_size": 224,
                "epochs": 60,
                "batch_size": 32,
                "lr": 1e-3,
                "warmup_epochs": 3.0,
                "patience": 20,
                "precise_bn": True,
                "ema_decay": 0.999,
            },
        ),
        Recipe(
            "lite0-finetune",
            "Plain ImageNet fine-tune: EfficientNet-Lite0 from its ImageNet-1k weights, 224 px, the whole "
            "image resized (no crop, no letterbox), ImageNet normalisation, AdamW with a one-cycle schedule "
            "peaking at 1e-3, flips and small affine moves, label smoothing 0.1, batch 32 "
            "(needs the 'pretrained' extra where it trains).",
            {
                "arch": "efficientnet_lite0",
                "pretrained": "imagenet",
                "normalization": "imagenet",
                "input_size": 224,
                "resize_mode": "resize",
                "crop_foreground": False,
                "augment": "auto",  # MR/CT: horizontal flips + small affine; histology: flips/rot90 + colour
                "epochs": 30,
                "batch_size": 32,
                "lr": 1e-3,
                # One cycle: 30 % warm-up from ~0 to the peak, cosine down to ~0 (OneCycleLR's shape).
                "warmup_epochs": 9.0,
                "min_lr_ratio": 0.001,
                "label_smoothing": 0.1,
                "patience": 30,
            },
        ),
        # The issue-22 CPU recipes: the plain fine-tune's backbone and optimiser, with the
        # task's own crop, a fixed short one-cycle schedule and the last epoch kept
        # (--select last), so validation chooses nothing and stays clean for the temperature.
        Recipe(
            "lite0-brain",
            "Brain MRI from ImageNet: EfficientNet-Lite0 at 224 px, cropped to the head and letterboxed, "
            "ImageNet normalisation, AdamW one-cycle at 1e-3 over 6 epochs, flips and small affine moves, "
            "label smoothing 0.1, class-weighted loss, the last epoch kept (about 25 minutes on 2 CPU cores).",
            {**_LITE0, "epochs": 6, "warmup_epochs": 1.8},
        ),
        Recipe(
            "lite0-lung-ct",
            "Lung CT from ImageNet: EfficientNet-Lite0 at 224 px, cropped to the patient's body and "
            "letterboxed, unweighted loss, AdamW one-cycle at 1e-3 over 10 epochs, the last epoch kept.",
            # Unweighted: class weights (and a balanced sampler) pushed the validation patients'
            # normal slices into the rare benign class (normal recall 0.35), as with ResNet-10.
            {**_LITE0, "epochs": 10, "warmup_epochs": 3.0, "imbalance": "none"},
        ),
        Recipe(
            "lite0-histology",
            "Lung histology from ImageNet: EfficientNet-Lite0 at 224 px, flips, 90-degree turns and small "
            "affine moves with no colour jitter, AdamW one-cycle at 1e-3 over 4 epochs, the last epoch kept "
            "with its own BatchNorm statistics (about 12 minutes on 2 CPU cores).",
            # Over three group splits: validation accuracy 0.930 +- 0.048 (adenocarcinoma recall 0.891)
            # with this augmentation and no precise BN, against 0.746 +- 0.047 (0.246) with the colour
            # jitter and precise BN (docs/models.md, "Histology").
            {**_LITE0, "epochs": 4, "warmup_epochs": 1.2, "augment": "geometric", "precise_bn": False},
        ),
    )
}


def recipes() -> dict[str, str]:
    """Recipe name -> one-line description, in a stable order (for forms)."""
    return {name: r.description for name, r in RECIPES.items()}


def recipe_options(name: str) -> dict[str, Any]:
    """The option defaults of recipe ``name``.

    Raises:
        ValueError: Unknown recipe.
    """
    try:
        return dict(RECIPES[name].options)
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}") from None
