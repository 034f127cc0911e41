"""Inference tests share the root fixtures (random_bundle, random_model, brain_case), plus the try-out ones here."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from cases.models import Task
from inference.tryout.services import tryout_start
from inference.tryout.worker import tryout_run
from tests.conftest import BRAIN_CLASSES

__all__ = ["BRAIN_CLASSES"]


def trained_random_bundle(folder, version, task="brain_mri"):
    """A random-weight bundle whose card says trained (stands for a shipped model here)."""
    from oncocore import registry

    classes = {
        "brain_mri": ["glioma", "meningioma", "notumor", "pituitary"],
        "lung_ct": ["benign", "malignant", "normal"],
    }
    registry.make_random_bundle(folder, task=task, class_names=classes[task])
    data = json.loads((folder / "model.json").read_text())
    data.update(untrained=False, name=task, version=version)
    (folder / "model.json").write_text(json.dumps(data))


def files_under(media_dir, prefix: str = "") -> list[str]:
    root = media_dir / prefix
    return (
        sorted(str(p.relative_to(media_dir)) for p in root.rglob("*") if p.is_file()) if root.exists() else []
    )


@pytest.fixture
def glioma(data_dir):
    return sorted((data_dir / "brain_mri" / "train" / "glioma").glob("*.jpg"))[0]


@pytest.fixture
def start(mocker, django_capture_on_commit_callbacks):
    """tryout_start with the Celery send replaced by a recorder."""
    delay = mocker.patch("inference.tryout.services.run_tryout.delay")

    def _start(user, path, task=Task.BRAIN_MRI):
        with django_capture_on_commit_callbacks(execute=True):
            created = tryout_start(
                user=user, task=task, upload=SimpleUploadedFile(path.name, path.read_bytes())
            )
        return created

    _start.delay = delay
    return _start


@pytest.fixture
def finished(start, radiologist, random_model, glioma):
    created = start(radiologist, glioma)
    assert tryout_run(tryout_id=str(created.pk))
    created.refresh_from_db()
    return created
