"""The task registry as the Django apps read it: built-ins plus declared tasks, and the field validators."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from cases.forms import TaskChangeForm, UploadForm, WorklistFilterForm
from cases.models import ReviewPolicy, Task
from cases.routing import route_header
from cases.services.case import case_change_task
from cases.services.task import task_ensure_for_card
from cases.task_registry import (
    is_positive_finding,
    task_all,
    task_choices,
    task_classes,
    task_keys,
    task_label,
)
from oncocore import tasks
from oncocore.model_card import ModelCard
from oncocore.preprocessing import PreprocessSpec
from oncoportal.exceptions import InvalidInput

pytestmark = pytest.mark.django_db


def _declare_breast() -> None:
    card = ModelCard(
        name="breast",
        version="1",
        task="breast_histology",
        arch="tinycnn",
        class_names=("benign", "malignant"),
        preprocessing=PreprocessSpec(input_size=32),
        task_definition={"label": "Breast histopathology", "positive_classes": ["malignant"], "modality": "SM",
                         "keywords": ["BREAST"]},
    )  # fmt: skip
    task_ensure_for_card(card=card)


def test_the_builtin_constants_are_the_cores():
    assert [(t.value, t.label) for t in Task] == [
        *((t.key, t.label) for t in tasks.BUILTIN_TASKS),
        (tasks.UNASSIGNED, tasks.UNASSIGNED_LABEL),
    ]
    assert task_all() == list(tasks.BUILTIN_TASKS)
    assert task_choices() == Task.choices
    assert task_classes("lung_ct") == ["benign", "malignant", "normal"] and task_classes("unassigned") == []
    assert is_positive_finding("brain_mri", "glioma") and not is_positive_finding("brain_mri", "notumor")
    assert not is_positive_finding("unassigned", "glioma")
    assert task_label("unassigned") == "Unassigned" and task_label("nonsense") == "nonsense"


def test_a_declared_task_is_read_everywhere_a_builtin_one_is(radiologist, site, make_case):
    breast_slide = {"Modality": "SM", "BodyPartExamined": "BREAST"}
    assert route_header(breast_slide).task == "histology"  # not declared yet
    _declare_breast()
    assert task_keys() == ["brain_mri", "lung_ct", "histology", "breast_histology"]
    assert task_label("breast_histology") == "Breast histopathology"
    assert task_classes("breast_histology") == ["benign", "malignant"]
    assert is_positive_finding("breast_histology", "malignant")
    # Its keywords became a routing rule, before the rule that sends every SM image to histology.
    assert route_header(breast_slide).task == "breast_histology"
    assert route_header({"Modality": "SM", "BodyPartExamined": "LUNG"}).task == "histology"
    # Forms offer it.
    for form in (TaskChangeForm(), UploadForm(user=radiologist), WorklistFilterForm(user=radiologist)):
        assert ("breast_histology", "Breast histopathology") in list(form.fields["task"].choices)
    assert ("malignant", "malignant") in list(WorklistFilterForm(user=radiologist).fields["ai_label"].choices)
    # A user can move a case to it.
    case = make_case(site)
    assert case_change_task(case=case, task="breast_histology", user=radiologist).task == "breast_histology"


def test_case_and_policy_tasks_are_validated_against_the_registry(site, make_case, radiologist):
    case = make_case(site)
    case.task = "breast_histology"
    with pytest.raises(ValidationError, match="Unknown task 'breast_histology'"):
        case.full_clean()
    with pytest.raises(InvalidInput, match="Unknown task"):
        case_change_task(case=case, task="breast_histology", user=radiologist)
    with pytest.raises(ValidationError, match="Unknown task 'unassigned'"):
        ReviewPolicy(task="unassigned", readers_required=2).full_clean()
    _declare_breast()
    case.full_clean()
    ReviewPolicy(task="breast_histology", readers_required=2).full_clean()
    case.task = Task.UNASSIGNED
    case.full_clean()
    assert (
        str(ReviewPolicy(task="breast_histology", readers_required=2)) == "Breast histopathology: 2 reader(s)"
    )


def test_readers_choose_among_the_tasks_classes_by_their_readable_names(client, reviewer, brain_case):
    case = brain_case.first()
    client.force_login(reviewer)
    html = client.get(reverse("cases:case_detail", args=[case.pk])).content.decode()
    assert 'value="notumor" data-digit="3"' in html and "<kbd>3</kbd> No tumour" in html


def test_a_task_declared_by_another_process_is_found_by_key_at_once():
    from cases.models import TaskDefinition
    from cases.task_registry import task_get, task_registry_forget

    assert task_keys() == ["brain_mri", "lung_ct", "histology"]  # cached now
    # Another process (say `manage.py register_model`) adds a task; this one's cache does not know.
    TaskDefinition.objects.create(key="colon", classes=["a", "b"], definition={"positive_classes": ["b"]})
    assert "colon" not in task_keys()  # the menus catch up when the cache expires
    assert task_get("colon") is not None and is_positive_finding("colon", "b")  # a lookup reads the table
    assert task_get("nonsense") is None and task_get("unassigned") is None
    task_registry_forget()
    assert task_keys()[-1] == "colon"


def test_intake_infers_a_declared_task_from_the_dicom_header(data_dir, site, radiologist):
    import io

    import pydicom

    from cases.models import Case
    from cases.services.intake import intake_sources

    card = ModelCard(
        name="knee", version="1", task="knee_mri", arch="tinycnn", class_names=("normal", "tear"),
        preprocessing=PreprocessSpec(input_size=32),
        task_definition={"modality": "MR", "keywords": ["KNEE"], "positive_classes": ["tear"]},
    )  # fmt: skip
    task_ensure_for_card(card=card)
    ds = pydicom.dcmread(data_dir / "dicom" / "pydicom" / "MR_small.dcm")
    ds.BodyPartExamined = "KNEE"
    buffer = io.BytesIO()
    ds.save_as(buffer)
    report = intake_sources(
        uploads=[("knee.dcm", buffer.getvalue())], site=site, user=radiologist, source="web"
    )
    case = Case.objects.get(pk=report.case_ids[0])
    assert case.task == "knee_mri" and case.task_inferred
