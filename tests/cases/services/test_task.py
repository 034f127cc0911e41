"""Adding a task as data: what a model card may declare, and what it may not."""

from __future__ import annotations

import pytest

from cases.models import AuditEvent, TaskDefinition
from cases.services.audit import AuditContext
from cases.services.task import task_ensure_for_card
from oncocore import tasks
from oncocore.model_card import ModelCard
from oncocore.preprocessing import PreprocessSpec
from oncoportal.exceptions import InvalidInput

pytestmark = pytest.mark.django_db


def _card(task: str, classes: tuple[str, ...], declared: dict | None = None, version: str = "1") -> ModelCard:
    return ModelCard(
        name=f"{task}-model",
        version=version,
        task=task,
        arch="tinycnn",
        class_names=classes,
        preprocessing=PreprocessSpec(input_size=32),
        task_definition=declared,
    )


def test_a_known_task_needs_no_declaration_and_its_classes_may_come_in_any_order(radiologist):
    assert task_ensure_for_card(card=_card("lung_ct", ("normal", "malignant", "benign"))) is tasks.LUNG_CT
    # Declaring a known task with its classes changes nothing.
    declared = {"label": "Another label"}
    assert task_ensure_for_card(card=_card("lung_ct", tasks.LUNG_CT.classes, declared)) is tasks.LUNG_CT
    assert not TaskDefinition.objects.exists() and not AuditEvent.objects.filter(action="task.declared")


def test_a_new_task_is_stored_once_and_audited(radiologist):
    declared = {"label": "Fourth brain class", "positive_classes": ["metastasis"], "modality": "MR"}
    classes = ("glioma", "meningioma", "metastasis", "notumor", "pituitary")
    spec = task_ensure_for_card(
        card=_card("brain_mri_5", classes, declared),
        audit=AuditContext.system(source="cli", actor=radiologist),
    )
    assert spec.label == "Fourth brain class" and spec.classes == classes
    row = TaskDefinition.objects.get()
    assert (row.key, row.classes, row.declared_by, str(row)) == (
        "brain_mri_5",
        list(classes),
        "brain_mri_5-model@1",
        "Fourth brain class (brain_mri_5)",
    )
    assert row.spec() == spec
    event = AuditEvent.objects.get(action="task.declared")
    assert event.actor == radiologist and event.detail["task"] == "brain_mri_5"
    # A second model for it (the declaration may be left out now) adds nothing.
    assert task_ensure_for_card(card=_card("brain_mri_5", classes, version="2")) == spec
    assert (
        TaskDefinition.objects.count() == 1 and AuditEvent.objects.filter(action="task.declared").count() == 1
    )


@pytest.mark.parametrize(
    "card, message",
    [
        (_card("breast_histology", ("benign", "malignant")), "unknown task 'breast_histology'"),
        (_card("unassigned", ("a", "b"), {}), "not a task a model can serve"),
        (_card("Breast", ("a", "b"), {}), "lowercase letters"),
        (_card("brain_mri", ("tumour", "normal")), "contradict task 'brain_mri'"),
        (_card("breast", ("a", "b"), {"positive_classes": ["c"]}), "positive_classes names unknown classes"),
    ],
)
def test_what_a_card_may_not_do(card, message):
    with pytest.raises(InvalidInput, match=message):
        task_ensure_for_card(card=card)
    assert not TaskDefinition.objects.exists()
