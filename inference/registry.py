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
import re
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .nets import available_archs, build_model
from .preprocessing import PreprocessSpec

__all__ = [
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

WEIGHTS_FILE = "weights.safetensors"
CARD_FILE = "model.json"
#: Largest weights file a bundle writes; bigger state dicts are sharded.
MAX_SHARD_BYTES = 15 << 20
_SHARD_NAME = re.compile(r"weights-(\d{5})-of-(\d{5})\.safetensors")
SCHEMA_VERSION = 1
PathLike = str | Path


class BundleError(ValueError):
    """A bundle is malformed (bad card, weights that do not fit the arch)."""


class BundleNotFoundError(BundleError, FileNotFoundError):
    """The bundle folder, its card or its weights file is missing."""


class BundleIntegrityError(BundleError):
    """The weights file does not match the SHA-256 recorded in the card."""


@dataclass(frozen=True)
class ModelCard:
    """Metadata describing one trained (or deliberately untrained) model.

    Attributes:
        name: Human-readable model name, e.g. ``"brain-mri-resnet18"``.
        version: Version string, unique per name (e.g. ``"2025.06.1"``).
        task: Task key, e.g. ``"brain_mri"``, ``"lung_ct"``, ``"histo_lung"``.
        arch: Architecture name understood by ``inference.nets.build_model``.
        class_names: Output classes, in logit order.
        preprocessing: The exact preprocessing used in training.
        class_hierarchy: Optional ``class -> parent`` map (e.g. ``"glioma" ->
            "tumour"``); every key must be a class name.
        training_data: Reference to the data (name, manifest hash, split, licence).
        metrics: Evaluation results (free-form, JSON-serialisable).
        temperature: Softmax temperature fitted on validation NLL (> 0).
        intended_use: Free text for the model card.
        limitations: Free text for the model card.
        untrained: True when the weights are random (tests, fresh installs).
        input_spec: Derived description of the input tensor (set on save).
        weights_sha256: SHA-256 of ``weights.safetensors``, or of a sharded
            bundle's shard list (:func:`weights_digest`; set on save).
        weights_files: Shards of a sharded bundle, ``{"file", "sha256",
            "bytes"}`` each, in order; empty for one ``weights.safetensors``.
        weights_dtype: ``"float32"`` or ``"float16"`` (set on save).
        created_at: ISO-8601 UTC timestamp (set on save if empty).
        extra: Anything else worth keeping, JSON-serialisable.
        schema_version: Version of this card format.
    """

    name: str
    version: str
    task: str
    arch: str
    class_names: tuple[str, ...]
    preprocessing: PreprocessSpec
    class_hierarchy: dict[str, str] | None = None
    training_data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    temperature: float = 1.0
    intended_use: str = ""
    limitations: str = ""
    untrained: bool = False
    input_spec: dict[str, Any] = field(default_factory=dict)
    weights_sha256: str = ""
    weights_files: tuple[dict[str, Any], ...] = ()
    weights_dtype: str = "float32"
    created_at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    @property
    def num_classes(self) -> int:
        """Number of output classes."""
        return len(self.class_names)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (the content of ``model.json``)."""
        d = asdict(self)
        d["class_names"] = list(self.class_names)
        d["preprocessing"] = self.preprocessing.to_dict()
        d["weights_files"] = [dict(f) for f in self.weights_files]
        if not d["weights_files"]:
            del d["weights_files"]  # one weights.safetensors: cards stay as they were
        return d

    @classmethod
    def from_dict(cls, data: Any) -> ModelCard:
        """Validate and build a card.

        Raises:
            BundleError: Listing every problem found (missing/unknown keys,
                wrong types, inconsistent values).
        """
        if not isinstance(data, dict):
            raise BundleError(f"model card must be a JSON object, got {type(data).__name__}")
        d, problems = dict(data), _card_problems(data)
        if problems:
            raise BundleError("invalid model card: " + "; ".join(problems))
        d["class_names"] = tuple(d["class_names"])
        d["weights_files"] = tuple(dict(f) for f in d.get("weights_files", ()))
        if not isinstance(d["preprocessing"], PreprocessSpec):
            d["preprocessing"] = PreprocessSpec.from_dict(d["preprocessing"])
        d["temperature"] = float(d.get("temperature", 1.0))
        return cls(**d)


_REQUIRED = {"name", "version", "task", "arch", "class_names", "preprocessing"}
_STRINGS = ("name", "version", "task", "arch", "intended_use", "limitations", "weights_sha256", "created_at")
_OBJECTS = ("training_data", "metrics", "input_spec", "extra")


def _card_problems(d: dict[str, Any]) -> list[str]:
    """Every schema violation in a raw card dict (empty list: valid)."""
    problems = [f"missing key {k!r}" for k in sorted(_REQUIRED - set(d))]
    problems += [f"unknown key {k!r}" for k in sorted(set(d) - {f.name for f in fields(ModelCard)})]
    if problems:
        return problems
    problems += [f"{k} must be a string" for k in _STRINGS if k in d and not isinstance(d[k], str)]
    problems += [f"{k} must not be empty" for k in ("name", "version", "task") if not str(d[k]).strip()]
    problems += [f"{k} must be an object" for k in _OBJECTS if k in d and not isinstance(d[k], dict)]
    if d["arch"] not in available_archs():
        problems.append(f"unknown arch {d['arch']!r} (known: {', '.join(available_archs())})")
    classes = d["class_names"]
    if not (
        isinstance(classes, (list, tuple))
        and len(classes) >= 2
        and all(isinstance(c, str) and c for c in classes)
        and len(set(classes)) == len(classes)
    ):
        problems.append("class_names must be a list of >= 2 distinct non-empty strings")
        classes = []
    if not isinstance(d["preprocessing"], PreprocessSpec):
        try:
            PreprocessSpec.from_dict(d["preprocessing"])
        except (TypeError, ValueError) as exc:
            problems.append(f"preprocessing: {exc}")
    hierarchy = d.get("class_hierarchy")
    if hierarchy is not None and not (
        isinstance(hierarchy, dict)
        and set(hierarchy) <= set(classes)
        and all(isinstance(v, str) for v in hierarchy.values())
    ):
        problems.append("class_hierarchy must map class names to parent-name strings")
    t = d.get("temperature", 1.0)
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0.0 < float(t) < 1e3:
        problems.append(f"temperature must be a number in (0, 1000), got {t!r}")
    if not isinstance(d.get("untrained", False), bool):
        problems.append("untrained must be true or false")
    if not re.fullmatch(r"([0-9a-f]{64})?", str(d.get("weights_sha256", ""))):
        problems.append("weights_sha256 must be 64 lowercase hex characters")
    problems += _shard_problems(d.get("weights_files", ()))
    if d.get("weights_dtype", "float32") not in ("float32", "float16"):
        problems.append("weights_dtype must be 'float32' or 'float16'")
    if d.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
        problems.append(f"unsupported schema_version {d.get('schema_version')!r} (expected {SCHEMA_VERSION})")
    return problems


def _shard_problems(shards: Any) -> list[str]:
    """Problems of a card's ``weights_files`` (bare shard names, in order, with digests)."""
    if not isinstance(shards, (list, tuple)):
        return ["weights_files must be a list"]
    problems = []
    for i, f in enumerate(shards, 1):
        ok = (
            isinstance(f, dict)
            and set(f) == {"file", "sha256", "bytes"}
            and isinstance(f["file"], str)
            and (m := _SHARD_NAME.fullmatch(f["file"])) is not None
            and (int(m[1]), int(m[2])) == (i, len(shards))
            and isinstance(f["sha256"], str)
            and re.fullmatch(r"[0-9a-f]{64}", f["sha256"]) is not None
            and isinstance(f["bytes"], int)
            and not isinstance(f["bytes"], bool)
            and f["bytes"] > 0
        )
        if not ok:
            problems.append(
                f"weights_files[{i - 1}] must be {{file: weights-{i:05d}-of-{len(shards):05d}.safetensors, "
                "sha256: 64 hex, bytes: > 0}"
            )
    if len(shards) == 1:
        problems.append("weights_files: one shard is a plain weights.safetensors")
    return problems


def _shard_list_digest(shards: Any) -> str:
    return hashlib.sha256("".join(f"{f['file']}\t{f['sha256']}\n" for f in shards).encode()).hexdigest()


def weight_files(card: ModelCard) -> list[str]:
    """The card's weights files, in load order (``weights.safetensors``, or the shards)."""
    return [f["file"] for f in card.weights_files] or [WEIGHTS_FILE]


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
    return _shard_list_digest(card.weights_files)


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
    shards = []
    for name, group in zip(names, groups, strict=True):
        tmp = out / (name + ".tmp")
        save_file(group, str(tmp), metadata={"arch": card.arch, "format": "pt"})
        shards.append({"file": name, "sha256": sha256_file(tmp), "bytes": tmp.stat().st_size})
    sharded = len(shards) > 1
    card = replace(
        card,
        weights_sha256=_shard_list_digest(shards) if sharded else shards[0]["sha256"],
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
