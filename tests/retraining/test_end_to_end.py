"""Issue 20 end to end, with real workers: from uploaded images to a candidate model version.

upload -> predict (a real worker, the untrained test model) -> review (confirm
some, correct some, one double read adjudicated) -> examples -> snapshot ->
export zip and re-read -> retrain (a real training worker, smoke recipe) -> a
candidate model version registered, not active.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from cases.models import AuditSource, Case, CaseStatus, Image, ReviewPolicy, Task
from cases.services.adjudication import adjudication_submit
from cases.services.audit import AuditContext
from cases.services.intake import intake_sources
from cases.services.review import review_submit
from curation.models import Example, Provenance
from curation.services.export import snapshot_export_stream
from curation.services.snapshots import snapshot_freeze
from inference.models import ModelVersion
from inference.services import model_version_activate, model_version_register
from oncocore.datasets.manifest import CARD_JSON_NAME, MANIFEST_NAME, is_snapshot_dir, read_manifest_csv
from oncoportal import celery_config
from retraining.models import JobMode, JobStatus, TrainingJob
from retraining.services.jobs import job_start
from tests.conftest import BRAIN_CLASSES
from tests.retraining.conftest import REDIS_DB, training_env, training_worker_process
from tests.worker import redis_url, wait_for, worker_process

pytestmark = [pytest.mark.services, pytest.mark.slow]
PER_CLASS = 4  # patients (one image each) a class ends with: enough for train, val and test
AUDIT = AuditContext.system(source=AuditSource.CLI)


def upload(data_dir: Path, *, site, user) -> list[Case]:
    """One image a patient through the intake, as the upload page sends them (the active model queues each)."""
    case_ids = []
    for label in BRAIN_CLASSES:
        for index, path in enumerate(
            sorted((data_dir / "brain_mri" / "train" / label).glob("*.jpg"))[:PER_CLASS]
        ):
            report = intake_sources(
                uploads=[(path.name, path.read_bytes())],
                site=site,
                user=user,
                source="web",
                task=Task.BRAIN_MRI,
                patient_ref=f"pt-{label}-{index}",
            )
            assert len(report.accepted) == 1, report.to_dict()
            case_ids += report.case_ids
    return list(Case.objects.filter(pk__in=case_ids).order_by("pk"))


def reading_plan(ai_labels: list[str]) -> list[str]:
    """The final label of each case: PER_CLASS a class, the AI's label kept where a slot allows (confirmed)."""
    slots = dict.fromkeys(BRAIN_CLASSES, PER_CLASS)
    final: list[str | None] = [None] * len(ai_labels)
    for i, ai in enumerate(ai_labels):
        if (
            slots[ai]
            and sum(1 for f, a in zip(final, ai_labels, strict=True) if f == a) < len(ai_labels) // 2
        ):
            final[i], slots[ai] = ai, slots[ai] - 1
    for i, ai in enumerate(ai_labels):
        if final[i] is None:
            choice = next((c for c in BRAIN_CLASSES if slots[c] and c != ai), None) or next(
                c for c in BRAIN_CLASSES if slots[c]
            )
            final[i], slots[choice] = choice, slots[choice] - 1
    return [f for f in final if f is not None]


def test_from_upload_to_a_candidate_model_version(
    transactional_db,
    settings,
    tmp_path,
    data_dir,
    site,
    radiologist,
    reviewer,
    curator,
    make_user,
    random_bundle,
):
    second_reader = make_user("rev2", "Reviewer", site)
    with training_worker_process(settings=settings, tmp_path=tmp_path) as training:
        base, _ = model_version_register(bundle_dir=random_bundle)
        model_version_activate(version=base)
        # Uploaded before the prediction worker starts: SQLite takes one writer at a time.
        cases = upload(data_dir, site=site, user=radiologist)
        # The "all" worker beside the training one, sharing the broker, database and files.
        with worker_process(
            broker_url=redis_url(REDIS_DB),
            var_dir=tmp_path / "var",
            log_path=tmp_path / "predict-worker.log",
            queues=celery_config.WORKERS["all"],
            extra_env=training_env(),
        ):
            wait_for(
                lambda: (
                    Case.objects.filter(pk__in=[c.pk for c in cases], status=CaseStatus.PREDICTED).count()
                    == len(cases)
                ),
                what="every case predicted",
                log_path=tmp_path / "predict-worker.log",
            )

        # Review: single reads (confirm or correct), then one case under a double read, adjudicated.
        images = [Image.objects.get(case=case) for case in cases]
        ai_labels = [image.predictions.get().label for image in images]
        final = reading_plan(ai_labels)
        *single, (last_case, last_image, last_label) = list(zip(cases, images, final, strict=True))
        for case, image, label in single:
            review_submit(case=case, image=image, reviewer=reviewer, label=label)
        ReviewPolicy.objects.create(task=Task.BRAIN_MRI, readers_required=2)
        disputed = next(c for c in BRAIN_CLASSES if c != last_label)
        review_submit(case=last_case, image=last_image, reviewer=reviewer, label=disputed)
        review_submit(case=last_case, image=last_image, reviewer=second_reader, label=last_label)
        adjudication_submit(case=last_case, image=last_image, curator=curator, label=last_label)

        examples = Example.objects.filter(task=Task.BRAIN_MRI)
        assert examples.count() == len(cases)
        provenances = Counter(examples.values_list("provenance", flat=True))
        assert provenances[Provenance.ADJUDICATED] == 1
        assert provenances[Provenance.AI_CONFIRMED] >= 1 and provenances[Provenance.CORRECTED] >= 1
        assert Counter(examples.values_list("label", flat=True)) == dict.fromkeys(BRAIN_CLASSES, PER_CLASS)

        snapshot = snapshot_freeze(task=Task.BRAIN_MRI, val_fraction=0.25, test_fraction=0.25, audit=AUDIT)
        assert snapshot.size == len(cases) and sorted(snapshot.class_names) == BRAIN_CLASSES

        # Export as a streamed zip, unzip, and read it back as the trainer does.
        archive = tmp_path / f"{snapshot.name}.zip"
        with archive.open("wb") as out:
            for chunk in snapshot_export_stream(snapshot):
                out.write(chunk)
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(tmp_path / "unzipped")
        folder = tmp_path / "unzipped" / snapshot.name
        assert is_snapshot_dir(folder) and (folder / CARD_JSON_NAME).is_file()
        rows = read_manifest_csv(folder / MANIFEST_NAME)
        assert len(rows) == snapshot.size
        for row in rows:
            assert hashlib.sha256((folder / row.path).read_bytes()).hexdigest() == row.sha256
        split_counts = Counter(row.split for row in rows)
        assert split_counts == {s: sum(c.values()) for s, c in snapshot.counts.items()}

        # Retrain: fine-tune the active model on the training queue.
        job = job_start(snapshot=snapshot, mode=JobMode.FINETUNE, recipe="smoke", audit=AUDIT)
        wait_for(
            lambda: TrainingJob.objects.get(pk=job.pk).finished,
            what="the training job",
            timeout=600,
            log_path=training.log_path,
        )
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.base_version == base
    candidate = job.result_version
    assert candidate is not None and candidate.status == ModelVersion.Status.REGISTERED
    assert candidate.task == Task.BRAIN_MRI and candidate.card["training_data"]
    assert list(ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE)) == [base]
