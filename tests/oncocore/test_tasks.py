"""The task registry's core: built-in tasks as data, declared tasks, window presets (routing: test_routing.py)."""

from __future__ import annotations

import json

import pytest

from oncocore import tasks
from oncocore.imaging import PRESETS
from oncocore.model_card import BundleError, ModelCard
from oncocore.preprocessing import PreprocessSpec
from oncocore.registry import load_card, make_random_bundle
from oncocore.tasks import (
    BUILTIN_TASKS,
    UNASSIGNED,
    WINDOW_PRESETS,
    TaskSpec,
    builtin_task,
    ct_preset_for_body_part,
)
from oncocore.training.data import CARD_TASKS, MODALITIES, card_dataset

BREAST = {
    "label": "Breast histopathology",
    "class_labels": {"benign": "Benign", "malignant": "Malignant"},
    "positive_classes": ["malignant"],
    "modality": "sm",
    "keywords": ["breast"],
    "presets": [{"key": "stain", "label": "Stain", "center": 128, "width": 200}],
    "data_folder": "histo_breast",
}


def _breast() -> TaskSpec:
    return TaskSpec.from_declaration(key="breast_histology", classes=["benign", "malignant"], declared=BREAST)


def test_builtin_tasks_hold_the_vocabulary_the_platform_had():
    assert [t.key for t in BUILTIN_TASKS] == ["brain_mri", "lung_ct", "histology"]
    brain, lung, histology = BUILTIN_TASKS
    assert brain.classes == ("glioma", "meningioma", "notumor", "pituitary")
    assert brain.positive_classes == {"glioma", "meningioma", "pituitary"} and not brain.is_positive(
        "notumor"
    )
    assert lung.positive_classes == {"malignant"} and lung.modality == "CT"
    assert histology.positive_classes == {"lung_adenocarcinoma", "lung_squamous_cell_carcinoma"}
    assert histology.class_label("lung_benign") == "Benign tissue" and brain.class_label("other") == "other"
    for task in BUILTIN_TASKS:
        assert task.positive_classes <= set(task.classes) and set(task.class_labels) <= set(task.classes)
        assert builtin_task(task.key) is task
    assert builtin_task(UNASSIGNED) is None and builtin_task("breast_histology") is None


def test_training_reads_its_folder_to_task_mapping_from_the_registry():
    assert CARD_TASKS == {"brain_mri": "brain_mri", "lung_ct": "lung_ct", "histo_lung": "histology"}
    assert MODALITIES == {"brain_mri": "mr", "lung_ct": "ct", "histo_lung": "histology"}


def test_a_declaration_builds_a_task():
    spec = _breast()
    assert spec.label == "Breast histopathology" and spec.classes == ("benign", "malignant")
    assert spec.modality == "SM" and spec.keywords == ("BREAST",) and spec.data_folder == "histo_breast"
    assert spec.is_positive("malignant") and not spec.is_positive("benign")
    assert TaskSpec.from_declaration(key=spec.key, classes=spec.classes, declared=spec.declaration()) == spec
    # Presets by modality: its own on its slides, the CT ones on CT only (issue 23).
    assert [p["key"] for p in spec.viewer_presets("SM")] == ["stain"]
    assert [p["key"] for p in spec.viewer_presets("CT")] == ["lung", "mediastinum", "brain", "bone"]
    assert spec.viewer_presets("MR") == [] and spec.viewer_presets("US") == []
    # A bare declaration: the key stands in for the label; nothing is positive.
    bare = TaskSpec.from_declaration(key="colon_polyps", classes=["a", "b"], declared={})
    assert bare.label == "Colon polyps" and bare.positive_classes == frozenset()


@pytest.mark.parametrize(
    "key, declared, message",
    [
        ("breast_histology", {"positive_classes": ["cancer"]}, "positive_classes names unknown classes"),
        ("breast_histology", {"class_labels": {"x": "X"}}, "class_labels names unknown classes"),
        ("breast_histology", {"labels": "x"}, "unknown task_definition key 'labels'"),
        ("breast_histology", {"keywords": "BREAST"}, "keywords must be a list"),
        (
            "breast_histology",
            {"presets": [{"key": "a", "label": "A", "center": 1, "width": 0}]},
            "presets[0]",
        ),
        ("breast_histology", {"label": 3}, "label must be a string"),
        ("Breast Histology", {}, "lowercase letters"),
        (UNASSIGNED, {}, "not a task a model can serve"),
        ("x" * 33, {}, "1-32"),
        ("breast_histology", ["benign"], "must be an object"),
    ],
)
def test_a_bad_declaration_lists_its_problems(key, declared, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        TaskSpec.from_declaration(key=key, classes=["benign", "malignant"], declared=declared)


def test_ct_presets_are_the_renderers():
    assert {f"ct_{p.key}": p.window for p in WINDOW_PRESETS} == PRESETS
    assert ct_preset_for_body_part("CHEST").key == "lung"
    assert ct_preset_for_body_part("skull").key == "brain"
    assert ct_preset_for_body_part(None).key == tasks.DEFAULT_CT_PRESET == "mediastinum"


def test_a_card_declares_a_task_and_round_trips(tmp_path):
    folder = tmp_path / "breast"
    make_random_bundle(folder, task="breast_histology", class_names=["benign", "malignant"], channels=3)
    card_path = folder / "model.json"
    plain = json.loads(card_path.read_text())
    assert "task_definition" not in plain  # cards of known tasks stay as they were
    assert load_card(folder).declared_task() is None and load_card(folder).task_spec() is None

    card_path.write_text(json.dumps({**plain, "task_definition": BREAST}))
    card = load_card(folder)
    assert card.declared_task() == _breast() and card.task_spec() == _breast()
    assert ModelCard.from_dict(card.to_dict()) == card
    assert card_dataset(card) == "histo_breast"

    card_path.write_text(json.dumps({**plain, "task_definition": {**BREAST, "positive_classes": ["x"]}}))
    with pytest.raises(BundleError, match="positive_classes names unknown classes"):
        load_card(folder)


def test_a_builtin_card_names_its_task_and_data_folder():
    card = ModelCard(
        name="h",
        version="1",
        task="histology",
        arch="tinycnn",
        class_names=tasks.HISTOLOGY.classes,
        preprocessing=PreprocessSpec.for_task("histology", 32),
    )
    assert card.task_spec() is tasks.HISTOLOGY and card_dataset(card) == "histo_lung"
