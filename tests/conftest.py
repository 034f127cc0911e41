"""Shared fixtures: sites, users with roles, sample data, and the service gate.

Tests that need a real service (PostgreSQL, Redis, Chromium, Orthanc, dcmtk)
call ``require_service(name, available, why)``: it skips when the service is
missing, and fails instead under ONCOPORTAL_REQUIRE_SERVICES=1 (CI).
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

REQUIRE_SERVICES = os.environ.get("ONCOPORTAL_REQUIRE_SERVICES", "") == "1"
REPO = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("ONCOPORTAL_DATA_DIR", REPO.parent / "shared" / "data")).resolve()


def require_service(name: str, available: bool, why: str = "") -> None:
    if available:
        return
    message = f"{name} is not available{': ' + why if why else ''}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} (ONCOPORTAL_REQUIRE_SERVICES=1)")
    pytest.skip(message)


def database_engine_refusal(engine: str) -> str | None:
    """Why the suite must not run on ``engine`` under ONCOPORTAL_REQUIRE_SERVICES=1 (None when it may).

    CI (``.ci/run``) requires every service, PostgreSQL included: without this check a run
    that lost its DATABASE_URL would fall back to SQLite and pass, testing the wrong database.
    """
    if not REQUIRE_SERVICES or engine == "django.db.backends.postgresql":
        return None
    return (
        f"ONCOPORTAL_REQUIRE_SERVICES=1 needs PostgreSQL, but the database engine is {engine}: "
        "set DATABASE_URL=postgres://USER@HOST:PORT/NAME (as .ci/run does)"
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    from django.conf import settings

    refusal = database_engine_refusal(str(settings.DATABASES["default"]["ENGINE"]))
    if refusal:
        pytest.exit(refusal, returncode=pytest.ExitCode.USAGE_ERROR)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix) -> None:
    """No persistent connections in tests.

    The live server answers each request in a new thread; with CONN_MAX_AGE
    (60 s from DATABASE_URL) those threads' connections outlive the test and
    PostgreSQL refuses to drop the test database at the end of the run.
    """
    from django.conf import settings

    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0


@pytest.fixture(scope="session")
def data_dir() -> Path:
    require_service("sample data", (DATA_DIR / "dicom" / "MANIFEST.tsv").exists(), f"no {DATA_DIR}")
    return DATA_DIR


@pytest.fixture(autouse=True)
def _fresh_task_registry():
    """A test's declared tasks roll back with its database; the registry's cache must forget them too."""
    yield
    from cases.task_registry import task_registry_forget

    task_registry_forget()


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path):
    """Every test writes files into its own folder, so orphan checks are exact."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    settings.MEDIA_ROOT = str(tmp_path / "media")
    (tmp_path / "media").mkdir()
    yield


@pytest.fixture
def media_dir(tmp_path) -> Path:
    return tmp_path / "media"


@pytest.fixture
def site(db):
    from cases.models import Site
    from cases.services.routing import routing_rules_seed

    routing_rules_seed()  # the migration's default routing rules, gone after a transactional test's flush
    return Site.objects.create(code="uh-radiology", name="University Hospital Radiology")


@pytest.fixture
def other_site(db):
    from cases.models import Site

    return Site.objects.create(code="cc-oncology", name="City Clinic Oncology")


def _make_user(username, role, site, **extra):
    from django.contrib.auth.models import Group

    from cases.models import User

    user = User.objects.create_user(username=username, password="correct-horse-42", site=site, **extra)
    if role:
        if not Group.objects.filter(name=role).exists():
            # Transactional tests flush the groups the roles migration made.
            from cases.roles import sync_roles

            sync_roles()
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def radiologist(site):
    return _make_user("rad", "Radiologist", site)


@pytest.fixture
def reviewer(site):
    return _make_user("rev", "Reviewer", site)


@pytest.fixture
def curator(site):
    return _make_user("cur", "Curator", None, is_staff=True)


@pytest.fixture
def integration(site):
    return _make_user("pacs", "Integration", site)


@pytest.fixture
def no_role_user(site):
    return _make_user("nobody", None, site)


@pytest.fixture
def other_radiologist(other_site):
    return _make_user("rad2", "Radiologist", other_site)


@pytest.fixture
def make_user():
    return _make_user


# --- Inference: an untrained (random-weight) bundle registered and active, and ingested cases.
BRAIN_CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]


@pytest.fixture(scope="session")
def random_bundle(tmp_path_factory):
    from cases.models import Task
    from oncocore import registry

    folder = tmp_path_factory.mktemp("bundles") / "brain-tiny"
    registry.make_random_bundle(folder, task=Task.BRAIN_MRI, class_names=BRAIN_CLASSES, input_size=64)
    return folder


@pytest.fixture
def random_model(db, random_bundle):
    from inference.services import model_version_activate, model_version_register

    version, _ = model_version_register(bundle_dir=random_bundle)
    model_version_activate(version=version)
    return version


@pytest.fixture
def brain_case(data_dir, site, radiologist):
    """Two single-image brain MRI cases from real images, ingested before any model is active (nothing queued)."""
    from cases.models import Case, Task
    from cases.services.intake import intake_sources

    paths = sorted((data_dir / "brain_mri" / "train" / "meningioma").glob("*.jpg"))[:2]
    report = intake_sources(
        uploads=[(p.name, p.read_bytes()) for p in paths],
        site=site,
        user=radiologist,
        source="web",
        task=Task.BRAIN_MRI,
        patient_ref="pt-1",
    )
    assert len(report.accepted) == 2
    return Case.objects.filter(pk__in=report.case_ids)


@pytest.fixture
def predicted(brain_case, random_model, django_capture_on_commit_callbacks, mocker):
    """Two single-image brain cases with predictions from the untrained test model."""
    from cases.models import Case
    from inference.pipeline import predictions_run
    from inference.services import prediction_request

    mocker.patch("inference.services.run_predictions.delay")
    ids = []
    for case in brain_case:
        with django_capture_on_commit_callbacks(execute=True):
            ids += [p.pk for p in prediction_request(case=case)]
    predictions_run(prediction_ids=ids)
    return list(Case.objects.filter(pk__in=brain_case.values("pk")).order_by("created_at"))


@pytest.fixture
def make_case(db) -> Callable[..., object]:
    """Create a case with ORM rows only (no files, no decoding): fast, for lists and query counts."""
    from cases.models import Case, Image, Patient, Series, Study

    counter = itertools.count(1)

    def _make(
        site,
        *,
        images: int = 1,
        status: str = "received",
        task: str = "lung_ct",
        flagged: bool = False,
        modality: str = "CT",
        priority: int = 0,
    ):
        n = next(counter)
        uid = uuid.uuid4().int
        patient = Patient.objects.create(pseudonym=f"P{uid:030d}"[:32])
        study = Study.objects.create(
            study_instance_uid=f"2.25.{uid}", site=site, patient=patient, modality=modality, body_part="CHEST"
        )
        case = Case.objects.create(
            site=site,
            study=study,
            task=task,
            status=status,
            flagged=flagged,
            priority=priority,
            flag_reason="Burned-in annotation: pixel data may show patient identity." if flagged else "",
        )
        series = Series.objects.create(study=study, series_instance_uid=f"2.25.{uid}.1", modality=modality)
        for i in range(images):
            prefix = f"images/fake-{n}-{i}-{uid}"
            Image.objects.create(
                series=series,
                case=case,
                kind="dicom",
                sop_instance_uid=f"2.25.{uid}.1.{i}",
                instance_number=i + 1,
                storage_prefix=prefix,
                file=f"{prefix}/source.dcm",
                display=f"{prefix}/display_0000.png",
                thumbnail=f"{prefix}/thumbnail.png",
                sha256=f"{uid:064x}"[-60:] + f"{i:04d}",
                stored_sha256="0" * 64,
                rows=64,
                cols=64,
            )
        return case

    return _make


# --- A real multi-image study: pydicom's 7-instance MR series, one case, with synthetic results.
MR_SERIES = "dicom/pydicom/dicomdirtests/98892003/MR700"
# Instance number -> the class probabilities its (synthetic) prediction gives: instance 5 is
# the glioma (the key image), instance 3 a weaker one, the rest normal with some tumour mass.
MR_STUDY_PROBABILITIES = {
    1: {"glioma": 0.02, "meningioma": 0.02, "notumor": 0.95, "pituitary": 0.01},
    2: {"glioma": 0.10, "meningioma": 0.05, "notumor": 0.80, "pituitary": 0.05},
    3: {"glioma": 0.62, "meningioma": 0.08, "notumor": 0.28, "pituitary": 0.02},
    4: {"glioma": 0.03, "meningioma": 0.01, "notumor": 0.96, "pituitary": 0.00},
    5: {"glioma": 0.91, "meningioma": 0.04, "notumor": 0.03, "pituitary": 0.02},
    6: {"glioma": 0.20, "meningioma": 0.10, "notumor": 0.65, "pituitary": 0.05},
    7: {"glioma": 0.01, "meningioma": 0.01, "notumor": 0.97, "pituitary": 0.01},
}
# The rule's ranking of those instances (docs/study-result.md): positives by tumour mass, then the rest.
MR_STUDY_RANKING = [5, 3, 6, 2, 1, 4, 7]


@pytest.fixture
def mr_study(data_dir, site, radiologist):
    """The 7-instance MR series ingested as one brain MRI case (before any model is active)."""
    from cases.models import Case, Task
    from cases.services.intake import intake_sources

    files = sorted((data_dir / MR_SERIES).iterdir())
    report = intake_sources(
        uploads=[(p.name, p.read_bytes()) for p in files],
        site=site,
        user=radiologist,
        source="web",
        task=Task.BRAIN_MRI,
    )
    assert len(report.accepted) == 7 and len(report.case_ids) == 1
    return Case.objects.get(pk=report.case_ids[0])


@pytest.fixture
def mr_study_predicted(mr_study, random_model):
    """``mr_study`` with a finished prediction per image (MR_STUDY_PROBABILITIES), refreshed by the pipeline.

    Returns the case and its images by instance number.
    """
    from django.utils import timezone

    from cases.models import Case
    from inference.case_status import cases_refresh_status
    from inference.models import Prediction

    images = {image.instance_number: image for image in mr_study.images.all()}
    for number, probabilities in MR_STUDY_PROBABILITIES.items():
        label = max(probabilities, key=lambda k: probabilities[k])
        Prediction.objects.create(
            image=images[number],
            model_version=random_model,
            status=Prediction.Status.DONE,
            label=label,
            confidence=probabilities[label],
            probabilities=probabilities,
            uncertainty=0.1 * number,
            untrained=True,
            finished_at=timezone.now(),
        )
    Case.objects.filter(pk=mr_study.pk).update(status="predicting")
    cases_refresh_status(case_ids=[mr_study.pk])
    return Case.objects.get(pk=mr_study.pk), images


def _db_kind(item: pytest.Item) -> str:
    """'serialized', 'flushing' (transactional without serialized rollback) or '' for the rest."""
    names = getattr(item, "fixturenames", ())
    marker = item.get_closest_marker("django_db")
    kwargs = marker.kwargs if marker is not None else {}
    serialized = "django_db_serialized_rollback" in names or bool(kwargs.get("serialized_rollback"))
    transactional = bool(kwargs.get("transaction")) or any(
        name in names for name in ("transactional_db", "live_server")
    )
    if serialized:
        return "serialized"
    return "flushing" if transactional else ""


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Run every serialized-rollback test before the first flushing transactional one.

    A transactional test without serialized rollback ends with a flush that re-creates the
    content types under new ids; a serialized-rollback test after it then cannot restore its
    own (IntegrityError on django_content_type), on SQLite and PostgreSQL alike. pytest-django
    has already ordered the tests as Django does (this hook runs after its own); this moves the
    serialized ones that come after a flushing one to just before it, keeping every other
    test's place and order.
    """
    kinds = [_db_kind(item) for item in items]
    if "flushing" not in kinds:
        return
    first = kinds.index("flushing")
    late = [item for item, kind in zip(items[first:], kinds[first:], strict=True) if kind == "serialized"]
    if not late:
        return
    rest = [item for item, kind in zip(items[first:], kinds[first:], strict=True) if kind != "serialized"]
    items[first:] = late + rest
