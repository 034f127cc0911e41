"""A hospital's own task, added as data: a bundle whose card declares it, end to end.

Register the bundle with the existing command, upload an image as a case of
the new task, run its prediction through the worker pipeline, and check the
stored result, the worklist's positive flag and a reader's label.
"""

from __future__ import annotations

import json

import pytest
import torch
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from cases.models import AuditEvent, Case, CaseStatus, Review, TaskDefinition
from cases.task_registry import task_choices, task_get
from inference import scoring
from inference.models import ModelVersion, Prediction
from inference.pipeline import predictions_run
from oncocore import registry

pytestmark = pytest.mark.django_db

BREAST = {
    "label": "Breast histopathology",
    "class_labels": {"benign": "Benign", "malignant": "Malignant"},
    "positive_classes": ["malignant"],
    "modality": "SM",
    "keywords": ["BREAST"],
}


@pytest.fixture(autouse=True)
def _no_cached_predictors():
    """Each test loads its own models (the worker's cache is per process)."""
    scoring._predictors.clear()
    yield
    scoring._predictors.clear()


def _breast_bundle(folder, *, declare=BREAST, lean="malignant", classes=("benign", "malignant")):
    """A tiny RGB bundle for breast_histology whose last layer leans to ``lean``, so its label is known."""
    registry.make_random_bundle(folder, task="breast_histology", class_names=list(classes), channels=3)
    model, card = registry.load_model(folder, "cpu")
    with torch.no_grad():
        model.fc.weight.zero_()
        model.fc.bias.copy_(torch.tensor([5.0 if name == lean else 0.0 for name in classes]))
    data = card.to_dict()
    if declare is not None:
        data["task_definition"] = declare
    registry.save_bundle(folder, model, registry.ModelCard.from_dict(data), overwrite=True)
    return folder


def test_a_bundle_declares_a_new_task_and_a_case_runs_through_it(
    tmp_path, data_dir, client, radiologist, reviewer, mocker, django_capture_on_commit_callbacks
):
    bundle = _breast_bundle(tmp_path / "breast-tiny")
    call_command("register_model", str(bundle), "--activate")
    version = ModelVersion.objects.get(task="breast_histology")
    assert version.status == ModelVersion.Status.ACTIVE
    spec = task_get("breast_histology")
    assert spec is not None and spec.classes == ("benign", "malignant") and spec.is_positive("malignant")
    assert ("breast_histology", "Breast histopathology") in task_choices()
    assert AuditEvent.objects.filter(action="task.declared", object_id=str(TaskDefinition.objects.get().pk))
    call_command("register_model", str(bundle))  # again: idempotent, the task is not declared twice
    assert TaskDefinition.objects.count() == 1

    # Upload a tile as a case of the new task, through the upload page.
    tile = sorted((data_dir / "histo_lung" / "train").rglob("*.jpg"))[0]
    client.force_login(radiologist)
    assert "Breast histopathology" in client.get(reverse("cases:upload")).content.decode()
    delay = mocker.patch("inference.services.run_predictions.delay")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("cases:upload"),
            {"task": "breast_histology", "files": [SimpleUploadedFile(tile.name, tile.read_bytes())]},
        )
    assert response.status_code in (200, 302)
    case = Case.objects.get()
    assert case.task == "breast_histology" and case.study.modality == "SM"  # the task's modality
    assert case.get_task_display() == "Breast histopathology"
    assert delay.call_count == 1

    # The worker pipeline scores it with the new task's model.
    ids = list(Prediction.objects.filter(image__case=case).values_list("pk", flat=True))
    assert predictions_run(prediction_ids=ids) == 1
    prediction = Prediction.objects.get(pk=ids[0])
    assert prediction.status == Prediction.Status.DONE and prediction.model_version == version
    assert set(prediction.probabilities) == {"benign", "malignant"} and prediction.label == "malignant"
    case.refresh_from_db()
    assert case.status == CaseStatus.PREDICTED and case.ai_label == "malignant" and case.ai_positive

    # The worklist ranks it as a finding and filters by the new task.
    listed = client.get(reverse("cases:worklist"), {"ai_label": "__positive__", "task": "breast_histology"})
    html = listed.content.decode()
    assert f"/cases/{case.pk}/" in html and "Breast histopathology" in html

    # A reader labels it with the new task's classes (and only those).
    client.force_login(reviewer)
    page = client.get(reverse("cases:case_detail", args=[case.pk])).content.decode()
    assert 'value="benign"' in page and 'value="malignant"' in page and 'value="glioma"' not in page
    assert "<kbd>2</kbd> Malignant" in page  # the declared readable name
    image = case.images.get()
    url = reverse("cases:review_submit", args=[case.pk, image.pk])
    client.post(url, {"label": "glioma"})
    assert not Review.objects.exists()
    client.post(url, {"label": "benign"})
    review = Review.objects.get()
    assert (review.task, review.label, review.ai_label) == ("breast_histology", "benign", "malignant")


def test_an_unknown_undeclared_task_is_refused(tmp_path):
    bundle = _breast_bundle(tmp_path / "b", declare=None)
    with pytest.raises(CommandError, match=r"unknown task 'breast_histology'.*task_definition"):
        call_command("register_model", str(bundle))
    assert not ModelVersion.objects.exists() and not TaskDefinition.objects.exists()


def test_a_card_that_contradicts_a_known_task_is_refused(tmp_path):
    _breast_bundle(tmp_path / "first")
    call_command("register_model", str(tmp_path / "first"))
    other = tmp_path / "other"
    _breast_bundle(other, classes=("benign", "malignant", "atypia"))
    data = json.loads((other / "model.json").read_text())
    data["version"] = "2"
    (other / "model.json").write_text(json.dumps(data))
    with pytest.raises(CommandError, match="contradict task 'breast_histology'"):
        call_command("register_model", str(other))
    assert ModelVersion.objects.count() == 1 and task_get("breast_histology").classes == (
        "benign",
        "malignant",
    )

    # A built-in task's classes are fixed too.
    brain = tmp_path / "brain"
    registry.make_random_bundle(brain, task="brain_mri", class_names=["tumour", "normal"])
    with pytest.raises(CommandError, match="contradict task 'brain_mri'"):
        call_command("register_model", str(brain))
