"""The model card (``model.json``): what a bundle's weights are, and its validation.

Django-free, like the rest of the bundle format; :mod:`oncocore.registry`
reads and writes bundles with it (and re-exports everything here).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .nets import available_archs
from .preprocessing import PreprocessSpec
from .tasks import TaskSpec, builtin_task, declaration_problems

__all__ = [
    "CARD_FILE",
    "SCHEMA_VERSION",
    "WEIGHTS_FILE",
    "BundleError",
    "BundleIntegrityError",
    "BundleNotFoundError",
    "ModelCard",
    "shard_list_digest",
    "weight_files",
]

WEIGHTS_FILE = "weights.safetensors"
CARD_FILE = "model.json"
SCHEMA_VERSION = 1
_SHARD_NAME = re.compile(r"weights-(\d{5})-of-(\d{5})\.safetensors")


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
        task: Task key, e.g. ``"brain_mri"``, ``"lung_ct"``, ``"histology"``
            (:mod:`oncocore.tasks`).
        arch: Architecture name understood by ``oncocore.nets.build_model``.
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
        task_definition: Declares a task the platform does not know yet (a
            hospital's own): label, class_labels, positive_classes, modality,
            keywords, presets, data_folder, all optional; its classes are
            ``class_names``. Registering the bundle adds the task. None for
            the built-in tasks.
        suitability: The input suitability (out-of-distribution) check
            stored beside the weights (``oncocore.suitability``): file,
            sha256, method, threshold and how it was fitted. None: no check.
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
    task_definition: dict[str, Any] | None = None
    suitability: dict[str, Any] | None = None
    schema_version: int = SCHEMA_VERSION

    @property
    def num_classes(self) -> int:
        """Number of output classes."""
        return len(self.class_names)

    def declared_task(self) -> TaskSpec | None:
        """The task this card declares (``task_definition``), or None when it declares none."""
        if self.task_definition is None:
            return None
        return TaskSpec.from_declaration(
            key=self.task, classes=self.class_names, declared=self.task_definition
        )

    def task_spec(self) -> TaskSpec | None:
        """The card's task: the one it declares, else the built-in of that key (None: neither)."""
        return self.declared_task() or builtin_task(self.task)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (the content of ``model.json``)."""
        d = asdict(self)
        d["class_names"] = list(self.class_names)
        d["preprocessing"] = self.preprocessing.to_dict()
        d["weights_files"] = [dict(f) for f in self.weights_files]
        if not d["weights_files"]:
            del d["weights_files"]  # one weights.safetensors: cards stay as they were
        if d["task_definition"] is None:
            del d["task_definition"]  # a built-in task: cards stay as they were
        if d["suitability"] is None:
            del d["suitability"]  # no input suitability check: cards stay as they were
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
    if d.get("task_definition") is not None:
        problems += declaration_problems(key=d["task"], classes=classes, declared=d["task_definition"])
    if d.get("suitability") is not None and not isinstance(d["suitability"], dict):
        problems.append("suitability must be an object")
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


def shard_list_digest(shards: Any) -> str:
    """SHA-256 of a shard list's "name<TAB>sha256" lines: what ``weights_sha256`` holds for shards."""
    return hashlib.sha256("".join(f"{f['file']}\t{f['sha256']}\n" for f in shards).encode()).hexdigest()


def weight_files(card: ModelCard) -> list[str]:
    """The card's weights files, in load order (``weights.safetensors``, or the shards)."""
    return [f["file"] for f in card.weights_files] or [WEIGHTS_FILE]
