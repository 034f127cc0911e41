"""Issue 21's flow end to end, through one real Celery worker and the services each page calls.

A candidate is evaluated beside the champion on the same snapshot split; a worse
one is refused by the gate, with the reason; an equal one runs in shadow on a new
case (stored, hidden from the reader), is compared against the reader's final
label, promoted through the gate; new uploads then use it; after a roll-back new
uploads use the old champion again.

The champion is ``random_model`` (seed 0: "glioma" for every brain image). The
worse candidate is the seed-2 bundle ("pituitary" everywhere): it loses the
champion's glioma sensitivity, a positive class. The equal candidate is the
champion's own weights under another name and version.
"""

from __future__ import annotations

import json
import shutil

import pytest
from django.test import Client
from django.urls import reverse

from cases.models import AuditSource, Case, CaseStatus, Task
from cases.services.audit import AuditContext
from cases.services.intake import intake_sources
from inference.models import ModelVersion, Prediction
from inference.services import model_version_register
from lifecycle.models import Evaluation, ShadowPrediction
from lifecycle.selectors_shadow import shadow_comparison
from lifecycle.services.evaluations import evaluation_request
from lifecycle.services.promotion import GateRefused, model_promote, model_rollback
from lifecycle.services.shadow import shadow_start
from tests.lifecycle.conftest import REDIS_DB
from tests.worker import redis_url, wait_for, worker_sharing_media

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture
def worker(transactional_db, settings, tmp_path):
    with worker_sharing_media(settings=settings, tmp_path=tmp_path, url=redis_url(REDIS_DB)) as proc:
        yield proc


@pytest.fixture
def twin(random_bundle, tmp_path) -> ModelVersion:
    """The champion's weights as another version: exactly as good, so the gate lets it through."""
    folder = tmp_path / "brain-twin"
    shutil.copytree(random_bundle, folder)
    card = json.loads((folder / "model.json").read_text())
    card.update(name="brain-twin", version="2.0.0")
    (folder / "model.json").write_text(json.dumps(card))
    version, _ = model_version_register(bundle_dir=folder)
    return version


def _evaluate(candidate, snapshot, audit, worker) -> Evaluation:
    evaluation = evaluation_request(candidate=candidate, snapshot=snapshot, audit=audit)
    wait_for(
        lambda: Evaluation.objects.get(pk=evaluation.pk).status in ("done", "failed"),
        what=f"evaluation of {candidate}",
        log_path=worker.log_path,
    )
    evaluation.refresh_from_db()
    assert evaluation.status == "done", evaluation.error
    return evaluation


def _upload(path, *, site, user, worker) -> Case:
    report = intake_sources(
        uploads=[(path.name, path.read_bytes())], site=site, user=user, source="web", task=Task.BRAIN_MRI
    )
    (case_id,) = report.case_ids
    wait_for(
        lambda: Case.objects.values_list("status", flat=True).get(pk=case_id) == CaseStatus.PREDICTED,
        what=f"case {case_id} predicted",
        log_path=worker.log_path,
    )
    return Case.objects.get(pk=case_id)


def _lead(case: Case) -> ModelVersion:
    return Prediction.objects.select_related("model_version").get(image__case=case).model_version


def test_evaluate_shadow_promote_and_roll_back_with_a_real_worker(
    worker, data_dir, site, radiologist, reviewer, curator, random_model, candidate, twin, snapshot
):
    audit = AuditContext.system(source=AuditSource.CLI, actor=curator)
    images = sorted((data_dir / "brain_mri" / "train" / "glioma").glob("*.jpg"))[-3:]

    # 1. The worse candidate, scored beside the champion on the same test images: refused, and why.
    worse = _evaluate(candidate, snapshot, audit, worker)
    sides = worse.results["sides"]
    assert [item["image_id"] for item in worse.results["items"]] and all(
        len(item["candidate"]) == len(item["champion"]) == 4 for item in worse.results["items"]
    )
    assert sides["champion"]["metrics"]["per_class"]["glioma"]["sensitivity"] == 1.0
    assert sides["candidate"]["metrics"]["per_class"]["glioma"]["sensitivity"] == 0.0
    with pytest.raises(GateRefused) as refused:
        model_promote(candidate=candidate, audit=audit)
    assert "Sensitivity of Glioma 0.000 is 1.000 below the champion's 1.000" in refused.value.message
    assert ModelVersion.objects.get(pk=random_model.pk).status == ModelVersion.Status.ACTIVE

    # 2. The equal candidate: the same figures on the same images.
    equal = _evaluate(twin, snapshot, audit, worker)
    assert equal.results["sides"]["candidate"]["metrics"] == equal.results["sides"]["champion"]["metrics"]
    assert equal.results["paired"]["b"] == equal.results["paired"]["c"] == 0

    # 3. In shadow on a new case: stored, never shown to the reader; then compared with the final label.
    deployment = shadow_start(candidate=twin, audit=audit)
    first = _upload(images[0], site=site, user=radiologist, worker=worker)
    wait_for(
        lambda: ShadowPrediction.objects.filter(image__case=first, status="done").exists(),
        what="the shadow result",
        log_path=worker.log_path,
    )
    assert _lead(first) == random_model
    reader = Client()
    reader.force_login(reviewer)
    page = reader.get(reverse("cases:case_detail", args=[first.pk])).content.decode()
    assert "brain-twin" not in page and str(random_model) in page
    image = first.images.get()
    answer = reader.post(reverse("cases:review_submit", args=[first.pk, image.pk]), {"label": "glioma"})
    assert answer.status_code == 302
    wait_for(lambda: Case.objects.get(pk=first.pk).status == CaseStatus.REVIEWED, what="the reading")
    comparison = shadow_comparison(deployment=deployment)
    assert comparison.counts["compared"] == 1 and comparison.figures is not None
    assert comparison.figures["candidate"]["accuracy"] == comparison.figures["champion"]["accuracy"] == 1.0

    # 4. Promoted through the gate: the shadow stops, the next upload gets the new version.
    change = model_promote(candidate=twin, audit=audit, evaluation=equal, reason="as good, checked in shadow")
    assert change.gate["passed"] and change.evaluation == equal
    deployment.refresh_from_db()
    assert deployment.stopped_at is not None
    assert _lead(_upload(images[1], site=site, user=radiologist, worker=worker)) == twin

    # 5. Rolled back: the next upload gets the old champion again.
    model_rollback(change=change, audit=audit, reason="undo")
    assert _lead(_upload(images[2], site=site, user=radiologist, worker=worker)) == random_model
