"""On-disk model bundles: ``weights.safetensors`` + ``model.json`` (model card).

A bundle is a self-describing folder::

    <bundle>/weights.safetensors   state dict (float32, or float16 to halve size)
    <bundle>/model.json            ModelCard: arch, classes, preprocessing, ...

Weights larger than ``MAX_SHARD_BYTES`` (15 MiB: every file of a bundle stays
under the 16 MiB that a repository file and a GPU machine's returned file may
have) are split into ``weights-00001-of-0000N.safetensors`` shards, listed
with their own SHA-256 in the card's ``weights_files``; the card's
``weights_sha256`` then identifies the set (:func:`weights_digest`).

``load_model`` rebuilds the architecture from the card, checks the weights'
SHA-256 against the card and returns the network in eval mode.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .model_card import (
    CARD_FILE,
    SCHEMA_VERSION,
    WEIGHTS_FILE,
    BundleError,
    BundleIntegrityError,
    BundleNotFoundError,
    ModelCard,
    shard_list_digest,
    weight_files,
)
from .nets import build_model
from .preprocessing import PreprocessSpec

__all__ = [
    "CARD_FILE",
    "MAX_SHARD_BYTES",
    "SCHEMA_VERSION",
    "WEIGHTS_FILE",
    "BundleError",
    "BundleIntegrityError",
    "BundleNotFoundError",
    "ModelCard",
    "load_card",
    "load_model",
    "make_random_bundle",
    "save_bundle",
    "sha256_file",
    "weight_files",
    "weights_digest",
]

#: Largest weights file a bundle writes; bigger state dicts are sharded.
MAX_SHARD_BYTES = 15 << 20
PathLike = str | Path


def weights_digest(directory: PathLike, card: ModelCard) -> str:
    """SHA-256 identifying the weights as they are on disk; compare with ``card.weights_sha256``.

    One file: that file's SHA-256. Shards: the SHA-256 of their "name<TAB>sha256"
    lines, each shard hashed from disk.

    Raises:
        BundleNotFoundError: A weights file is missing.
        BundleIntegrityError: A shard's SHA-256 differs from the card's.
    """
    paths = [Path(directory) / name for name in weight_files(card)]
    for path in paths:
        if not path.is_file():
            raise BundleNotFoundError(f"weights file missing: {path}")
    if not card.weights_files:
        return sha256_file(paths[0])
    for path, shard in zip(paths, card.weights_files, strict=True):
        actual = sha256_file(path)
        if actual != shard["sha256"]:
            raise BundleIntegrityError(
                f"SHA-256 mismatch for {path}: card says {shard['sha256']}, file is {actual}"
            )
    return shard_list_digest(card.weights_files)


def _shards(state: dict[str, torch.Tensor], max_bytes: int) -> list[dict[str, torch.Tensor]]:
    """Consecutive groups of tensors of at most ``max_bytes`` each (a bigger tensor goes alone)."""
    groups: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, tensor in state.items():
        n = tensor.numel() * tensor.element_size()
        if groups[-1] and size + n > max_bytes:
            groups.append({})
            size = 0
        groups[-1][name] = tensor
        size += n
    return groups


def sha256_file(path: PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _input_spec(spec: PreprocessSpec) -> dict[str, Any]:
    return {
        "shape": ["B", spec.channels, spec.input_size, spec.input_size],
        "dtype": "float32",
        "layout": "NCHW",
        "values": "mean/std normalised, see preprocessing",
    }


def _check_state_dict(card: ModelCard, state: dict[str, torch.Tensor]) -> None:
    """Raise BundleError unless ``state`` fits ``card.arch`` exactly."""
    ref = build_model(
        card.arch, num_classes=card.num_classes, in_channels=card.preprocessing.channels
    ).state_dict()
    missing, unexpected = sorted(set(ref) - set(state)), sorted(set(state) - set(ref))
    bad = [k for k in ref if k in state and tuple(ref[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or bad:
        raise BundleError(
            f"weights do not fit arch {card.arch!r} with {card.num_classes} classes and "
            f"{card.preprocessing.channels} channel(s): missing={missing[:5]}, "
            f"unexpected={unexpected[:5]}, wrong shape={bad[:5]}"
        )


def save_bundle(
    directory: PathLike,
    model: nn.Module,
    card: ModelCard,
    *,
    half: bool = False,
    overwrite: bool = False,
    max_shard_bytes: int = MAX_SHARD_BYTES,
) -> ModelCard:
    """Write ``model`` and ``card`` as a bundle folder.

    Args:
        directory: Target folder (created if needed).
        model: Network whose ``state_dict`` fits ``card.arch``/classes/channels.
        card: Card to store; sha256, dtype, input_spec and created_at are filled in.
        half: Store floating-point tensors as float16 (loaded back as float32).
        overwrite: Replace an existing bundle in ``directory``.
        max_shard_bytes: Weights above this size are split into shards of at most it.

    Returns:
        The card as written.

    Raises:
        FileExistsError: A bundle exists and ``overwrite`` is False.
        BundleError: The weights do not fit the card.
    """
    out = Path(directory)
    if (out / CARD_FILE).exists() and not overwrite:
        raise FileExistsError(f"{out} already holds a bundle (pass overwrite=True)")
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    _check_state_dict(card, state)
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    # Write to temporary names and rename, so a crash never leaves a card that
    # points at half-written weights.
    groups = _shards(state, max_shard_bytes)
    names = (
        [WEIGHTS_FILE]
        if len(groups) == 1
        else [f"weights-{i:05d}-of-{len(groups):05d}.safetensors" for i in range(1, len(groups) + 1)]
    )
    shards: list[dict[str, Any]] = []
    for name, group in zip(names, groups, strict=True):
        tmp = out / (name + ".tmp")
        save_file(group, str(tmp), metadata={"arch": card.arch, "format": "pt"})
        shards.append({"file": name, "sha256": sha256_file(tmp), "bytes": tmp.stat().st_size})
    sharded = len(shards) > 1
    card = replace(
        card,
        weights_sha256=shard_list_digest(shards) if sharded else shards[0]["sha256"],
        weights_files=tuple(shards) if sharded else (),
        weights_dtype="float16" if half else "float32",
        input_spec=_input_spec(card.preprocessing),
        created_at=card.created_at or datetime.now(UTC).isoformat(timespec="seconds"),
    )
    ModelCard.from_dict(card.to_dict())  # refuse to write a card that would not load
    tmp_c = out / (CARD_FILE + ".tmp")
    tmp_c.write_text(json.dumps(card.to_dict(), indent=2) + "\n", encoding="utf-8")
    for name in names:
        os.replace(out / (name + ".tmp"), out / name)
    os.replace(tmp_c, out / CARD_FILE)
    for stale in [out / WEIGHTS_FILE, *out.glob("weights-*-of-*.safetensors")]:
        if stale.name not in names:  # an overwritten bundle's other layout
            stale.unlink(missing_ok=True)
    return card


def load_card(directory: PathLike) -> ModelCard:
    """Read and validate ``<directory>/model.json``.

    Raises:
        BundleNotFoundError: The card file is missing.
        BundleError: Invalid JSON or schema (message lists the problems).
    """
    path = Path(directory) / CARD_FILE
    if not path.is_file():
        raise BundleNotFoundError(f"no model card at {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: not valid JSON: {exc}") from exc
    try:
        return ModelCard.from_dict(data)
    except BundleError as exc:
        raise BundleError(f"{path}: {exc}") from None


def load_model(directory: PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, ModelCard]:
    """Load a bundle: verify the weights' SHA-256, rebuild the net, eval mode.

    Args:
        directory: Bundle folder.
        device: Where to put the model.

    Returns:
        ``(model, card)``; the model is float32, in eval mode, on ``device``.
        Parameters keep ``requires_grad`` so Grad-CAM can backpropagate.

    Raises:
        BundleNotFoundError: Card or a weights file missing.
        BundleIntegrityError: SHA-256 mismatch (corrupt or swapped weights or shards).
        BundleError: Invalid card or weights that do not fit the arch.
    """
    card = load_card(directory)
    if not card.weights_sha256:
        raise BundleIntegrityError(f"{Path(directory) / CARD_FILE} records no weights_sha256")
    actual = weights_digest(directory, card)
    if actual != card.weights_sha256:
        what = Path(directory) / (WEIGHTS_FILE if not card.weights_files else f"{CARD_FILE} weights_files")
        raise BundleIntegrityError(
            f"SHA-256 mismatch for {what}: card says {card.weights_sha256}, file is {actual}"
        )
    state: dict[str, torch.Tensor] = {}
    for name in weight_files(card):
        part = load_file(str(Path(directory) / name))
        if set(part) & set(state):
            raise BundleError(f"{Path(directory) / name} repeats tensors of an earlier shard")
        state.update({k: v.float() if v.is_floating_point() else v for k, v in part.items()})
    _check_state_dict(card, state)
    model = build_model(card.arch, num_classes=card.num_classes, in_channels=card.preprocessing.channels)
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), card


def make_random_bundle(
    directory: PathLike,
    *,
    task: str,
    class_names: list[str],
    arch: str = "tinycnn",
    input_size: int = 64,
    channels: int = 1,
    seed: int = 0,
    overwrite: bool = False,
) -> ModelCard:
    """Write an untrained bundle (random weights, ``untrained=True``).

    Used by tests and by a fresh install before real models exist: the whole
    pipeline works, but predictions are meaningless and must be shown as such.

    Returns:
        The card as written.
    """
    with torch.random.fork_rng(devices=[]):  # seed locally, leave the caller's RNG alone
        torch.manual_seed(seed)
        model = build_model(arch, num_classes=len(class_names), in_channels=channels)
    spec = PreprocessSpec(
        input_size=input_size,
        channels=channels,
        crop_foreground=(task == "brain_mri"),
        mean=(0.5,) * channels,
        std=(0.25,) * channels,
    )
    card = ModelCard(
        name=f"{task}-{arch}-untrained",
        version="0.0.0+untrained",
        task=task,
        arch=arch,
        class_names=tuple(class_names),
        preprocessing=spec,
        untrained=True,
        training_data={"name": None, "note": "random initialisation, no training data"},
        intended_use="Software testing and fresh installs only. Not for any clinical use.",
        limitations="Random weights: predictions and saliency maps carry no information.",
    )
    return save_bundle(directory, model, card, overwrite=overwrite)
