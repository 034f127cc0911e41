"""``--finetune-from BUNDLE``: start from a registry bundle instead of random weights.

The bundle's card fixes the architecture, input size and preprocessing (the
candidate must see images exactly as its parent did). When the bundle's
classes are the data's (in any order), every weight is loaded and the label
order is the bundle's; otherwise the backbone is loaded and the head (the
network's last ``nn.Linear``) starts fresh. The model card records which.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from ..registry import ModelCard, load_card, load_model

__all__ = ["finetune_plan", "load_finetune_weights"]


def _head_prefix(model: nn.Module) -> str:
    """Name of the last ``nn.Linear`` module: the classification head."""
    linears = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__}: no linear head to replace")
    return linears[-1] + "."


def finetune_plan(bundle_dir: str | Path, classes: list[str]) -> tuple[ModelCard, list[str], bool]:
    """The parent's card, the label order to train with, and whether its head is kept.

    Returns:
        ``(card, classes, keep_head)``: with the same class set the bundle's order
        (so the head's rows keep their meaning), else ``classes`` unchanged.
    """
    card = load_card(bundle_dir)
    same = set(card.class_names) == set(classes)
    return card, (list(card.class_names) if same else classes), same


def load_finetune_weights(model: nn.Module, bundle_dir: str | Path, *, keep_head: bool) -> dict[str, Any]:
    """Copy the bundle's weights into ``model`` (all of them, or all but the head).

    Returns:
        Provenance for the model card's ``training_data.finetuned_from``.

    Raises:
        ValueError: The bundle's weights do not fit ``model`` outside the head.
    """
    parent, card = load_model(bundle_dir, "cpu")
    state = parent.state_dict()
    head = _head_prefix(model)
    if not keep_head:
        state = {k: v for k, v in state.items() if not k.startswith(head)}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith(head) for k in missing) or (keep_head and missing):
        raise ValueError(f"{bundle_dir}: weights do not fit: missing {missing}, unexpected {unexpected}")
    return {
        "bundle": str(bundle_dir),
        "name": card.name,
        "version": card.version,
        "task": card.task,
        "weights_sha256": card.weights_sha256,
        "class_names": list(card.class_names),
        "head": "kept (same classes)" if keep_head else "new (classes differ; backbone only)",
    }
