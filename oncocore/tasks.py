"""The task vocabulary: what each task predicts, what a reader should see first, how to show it.

One definition read by every part of the platform: the Django apps (a case's
task, forms, worklist positives, review labels, the keywords a declared task's
routing rule is made of, model registration), training (data folder <-> task) and the viewer
(window presets, passed to the page with ``json_script``). Django-free, so
training and notebooks read it too.

The built-in tasks are data here. A hospital adds a task of its own as data
too: a model card's ``task_definition`` (see :func:`TaskSpec.from_declaration`)
that the model registration stores, with no code change.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BRAIN_MRI",
    "BUILTIN_TASKS",
    "DEFAULT_CT_PRESET",
    "HISTOLOGY",
    "LUNG_CT",
    "UNASSIGNED",
    "UNASSIGNED_LABEL",
    "WINDOW_PRESETS",
    "TaskSpec",
    "WindowPreset",
    "builtin_task",
    "ct_preset_for_body_part",
    "ct_presets",
    "declaration_problems",
    "task_key_problem",
]

UNASSIGNED = "unassigned"
UNASSIGNED_LABEL = "Unassigned"
# Case.task and ModelVersion.task are 32 characters; a key is also a URL/JSON-safe slug.
_KEY = re.compile(r"[a-z][a-z0-9_]{0,31}")
_DECLARATION_KEYS = {
    "label",
    "class_labels",
    "positive_classes",
    "modality",
    "keywords",
    "presets",
    "data_folder",
}


@dataclass(frozen=True)
class WindowPreset:
    """A display window, in the modality's values (Hounsfield units for CT).

    Attributes:
        key: Short name used by the viewer's buttons, e.g. ``"lung"``.
        label: Button text.
        center: Window centre (level).
        width: Window width (> 0).
        body_parts: BodyPartExamined words for which the renderer picks this
            preset when a CT file carries no window of its own.
    """

    key: str
    label: str
    center: float
    width: float
    body_parts: tuple[str, ...] = ()

    @property
    def window(self) -> tuple[float, float]:
        """``(center, width)``, as the renderer takes it."""
        return self.center, self.width

    def to_dict(self) -> dict[str, Any]:
        """What the viewer reads (``json_script``) and a card may declare."""
        return {"key": self.key, "label": self.label, "center": self.center, "width": self.width}


# The CT presets. These are the values the server renderer has always used; the
# viewer's own copy (mediastinum 50/350, bone 500/2000) disagreed and is gone.
WINDOW_PRESETS: tuple[WindowPreset, ...] = (
    WindowPreset("lung", "Lung", -600.0, 1500.0, body_parts=("CHEST", "LUNG", "THORAX")),
    WindowPreset("mediastinum", "Mediastinum", 40.0, 400.0),
    WindowPreset("brain", "Brain", 40.0, 80.0, body_parts=("HEAD", "BRAIN", "SKULL")),
    WindowPreset("bone", "Bone", 480.0, 2500.0),
)
# CT with no matching body part is shown as soft tissue.
DEFAULT_CT_PRESET = "mediastinum"


def ct_presets(modality: str) -> list[dict[str, Any]]:
    """The CT window presets, for a CT image; none for any other modality (Hounsfield units mean nothing there)."""
    return [p.to_dict() for p in WINDOW_PRESETS] if modality.upper() == "CT" else []


def ct_preset_for_body_part(body_part: str | None) -> WindowPreset:
    """The preset a CT image without a window of its own is shown with."""
    part = (body_part or "").upper()
    for preset in WINDOW_PRESETS:
        if any(word in part for word in preset.body_parts):
            return preset
    return next(p for p in WINDOW_PRESETS if p.key == DEFAULT_CT_PRESET)


@dataclass(frozen=True)
class TaskSpec:
    """One task: what its models predict and readers label, and how its images are found and shown.

    Attributes:
        key: The value stored on cases and model cards, e.g. ``"brain_mri"``.
        label: What people read, e.g. ``"Brain MRI (tumour type)"``.
        classes: The class names models predict and readers choose, in the
            training folders' order (their names).
        class_labels: Readable names of the classes (a class without one is
            shown as it is).
        positive_classes: The findings a reader should see first (tumours,
            malignancy): the worklist ranks cases the AI puts in one of these
            ahead of the rest.
        modality: The DICOM Modality of its studies (``MR``, ``CT``, ``SM``);
            plain images uploaded for this task are stored with it.
        keywords: BodyPartExamined words that point to this task: when a
            model card declares the task, they become a routing rule
            (``oncocore.routing``, docs/routing.md). The built-in tasks are
            routed by the default rules instead.
        presets: Window presets of its own, offered by the viewer on images
            of its modality (the CT ones on CT only).
        data_folder: The training data folder (``../shared/data/<folder>``),
            or ``""`` when the platform holds no training data for it.
    """

    key: str
    label: str
    classes: tuple[str, ...]
    class_labels: Mapping[str, str] = field(default_factory=dict)
    positive_classes: frozenset[str] = frozenset()
    modality: str = ""
    keywords: tuple[str, ...] = ()
    presets: tuple[WindowPreset, ...] = ()
    data_folder: str = ""

    def is_positive(self, label: str) -> bool:
        """True when ``label`` is one of the findings a reader should see first."""
        return label in self.positive_classes

    def class_label(self, name: str) -> str:
        """The readable name of a class."""
        return self.class_labels.get(name, name)

    def viewer_presets(self, modality: str) -> list[dict[str, Any]]:
        """The viewer's window buttons for an image of this modality: the CT ones on CT, then the task's own.

        The task's own presets are in its modality's values, so they are offered on it alone.
        """
        own = list(self.presets) if not self.modality or modality.upper() == self.modality else []
        keys = {p.key for p in own}
        return [p for p in ct_presets(modality) if p["key"] not in keys] + [p.to_dict() for p in own]

    def declaration(self) -> dict[str, Any]:
        """The task as a card's ``task_definition`` declares it (the classes are the card's)."""
        return {
            "label": self.label,
            "class_labels": dict(self.class_labels),
            "positive_classes": sorted(self.positive_classes),
            "modality": self.modality,
            "keywords": list(self.keywords),
            "presets": [p.to_dict() for p in self.presets],
            "data_folder": self.data_folder,
        }

    @classmethod
    def from_declaration(cls, *, key: str, classes: Sequence[str], declared: Any) -> TaskSpec:
        """Build a task from a model card: its ``task``, ``class_names`` and ``task_definition``.

        Raises:
            ValueError: Listing every problem with the declaration.
        """
        problems = declaration_problems(key=key, classes=classes, declared=declared)
        if problems:
            raise ValueError("invalid task_definition: " + "; ".join(problems))
        d = dict(declared)
        return cls(
            key=key,
            label=d.get("label") or key.replace("_", " ").capitalize(),
            classes=tuple(classes),
            class_labels=dict(d.get("class_labels") or {}),
            positive_classes=frozenset(d.get("positive_classes") or ()),
            modality=str(d.get("modality") or "").upper(),
            keywords=tuple(str(w).upper() for w in d.get("keywords") or ()),
            presets=tuple(
                WindowPreset(str(p["key"]), str(p["label"]), float(p["center"]), float(p["width"]))
                for p in d.get("presets") or ()
            ),
            data_folder=str(d.get("data_folder") or ""),
        )


def task_key_problem(key: Any) -> str | None:
    """Why ``key`` cannot name a task (None when it can)."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        return f"task {key!r} must be 1-32 lowercase letters, digits or '_', starting with a letter"
    if key == UNASSIGNED:
        return f"{UNASSIGNED!r} is not a task a model can serve"
    return None


def declaration_problems(*, key: Any, classes: Sequence[str], declared: Any) -> list[str]:
    """Every problem of a card's ``task_definition`` (empty list: valid)."""
    if not isinstance(declared, dict):
        return ["task_definition must be an object"]
    problems = [f"unknown task_definition key {k!r}" for k in sorted(set(declared) - _DECLARATION_KEYS)]
    if (problem := task_key_problem(key)) is not None:
        problems.append(problem)
    known = set(classes)
    for name in ("label", "modality", "data_folder"):
        if name in declared and not isinstance(declared[name], str):
            problems.append(f"task_definition.{name} must be a string")
    labels = declared.get("class_labels", {})
    if not (isinstance(labels, dict) and all(isinstance(v, str) for v in labels.values())):
        problems.append("task_definition.class_labels must map class names to strings")
    elif set(labels) - known:
        problems.append(f"task_definition.class_labels names unknown classes {sorted(set(labels) - known)}")
    positives = declared.get("positive_classes", [])
    if not (isinstance(positives, list) and all(isinstance(c, str) for c in positives)):
        problems.append("task_definition.positive_classes must be a list of class names")
    elif set(positives) - known:
        problems.append(
            f"task_definition.positive_classes names unknown classes {sorted(set(positives) - known)}"
        )
    keywords = declared.get("keywords", [])
    if not (isinstance(keywords, list) and all(isinstance(w, str) and w.strip() for w in keywords)):
        problems.append("task_definition.keywords must be a list of non-empty strings")
    problems += _preset_problems(declared.get("presets", []))
    return problems


def _preset_problems(presets: Any) -> list[str]:
    if not isinstance(presets, list):
        return ["task_definition.presets must be a list"]
    problems = []
    for i, p in enumerate(presets):
        ok = (
            isinstance(p, dict)
            and set(p) == {"key", "label", "center", "width"}
            and isinstance(p["key"], str)
            and _KEY.fullmatch(p["key"]) is not None
            and isinstance(p["label"], str)
            and all(
                isinstance(p[k], (int, float)) and not isinstance(p[k], bool) for k in ("center", "width")
            )
            and math.isfinite(p["center"])
            and math.isfinite(p["width"])
            and p["width"] > 0
        )
        if not ok:
            problems.append(
                f"task_definition.presets[{i}] must be {{key: slug, label: text, center: number, width: > 0}}"
            )
    return problems


BRAIN_MRI = TaskSpec(
    key="brain_mri",
    label="Brain MRI (tumour type)",
    classes=("glioma", "meningioma", "notumor", "pituitary"),
    class_labels={
        "glioma": "Glioma",
        "meningioma": "Meningioma",
        "notumor": "No tumour",
        "pituitary": "Pituitary",
    },
    positive_classes=frozenset({"glioma", "meningioma", "pituitary"}),
    modality="MR",
    keywords=("BRAIN", "HEAD", "SKULL", "CEREBR"),
    data_folder="brain_mri",
)
LUNG_CT = TaskSpec(
    key="lung_ct",
    label="Lung CT (nodule malignancy)",
    classes=("benign", "malignant", "normal"),
    class_labels={"benign": "Benign", "malignant": "Malignant", "normal": "Normal"},
    positive_classes=frozenset({"malignant"}),
    modality="CT",
    keywords=("CHEST", "LUNG", "THORAX"),
    data_folder="lung_ct",
)
HISTOLOGY = TaskSpec(
    key="histology",
    label="Lung histopathology",
    classes=("lung_adenocarcinoma", "lung_benign", "lung_squamous_cell_carcinoma"),
    class_labels={
        "lung_adenocarcinoma": "Adenocarcinoma",
        "lung_benign": "Benign tissue",
        "lung_squamous_cell_carcinoma": "Squamous cell carcinoma",
    },
    positive_classes=frozenset({"lung_adenocarcinoma", "lung_squamous_cell_carcinoma"}),
    modality="SM",
    data_folder="histo_lung",
)
BUILTIN_TASKS: tuple[TaskSpec, ...] = (BRAIN_MRI, LUNG_CT, HISTOLOGY)
_BUILTIN = {t.key: t for t in BUILTIN_TASKS}


def builtin_task(key: str) -> TaskSpec | None:
    """The built-in task of this key, if any."""
    return _BUILTIN.get(key)
