"""A shadow run end to end through a real Celery worker on Redis (database 2).

Upload through the intake -> the champion's prediction -> the candidate's
shadow result stored -> nothing of it reaches readers -> readings make the
final labels -> the Curator's comparison shows the figures counted by hand.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from api.services.webhooks import webhook_create
from cases.models import Case, CaseStatus, Task
from cases.services.intake import intake_sources
from inference.models import Prediction
from lifecycle.models import ShadowPrediction
from lifecycle.selectors_shadow import shadow_comparison
from lifecycle.services.shadow import shadow_start
from tests.lifecycle.conftest import CANDIDATE_LABEL, CHAMPION_LABEL, REDIS_DB
from tests.lifecycle.hidden import assert_hidden_from_readers
from tests.worker import redis_url, wait_for, worker_sharing_media

pytestmark = [pytest.mark.services, pytest.mark.slow]

#: The images uploaded, by their true class; the last one is never read (it waits for its label).
UPLOADS = [("glioma", 0), ("pituitary", 0), ("pituitary", 1), ("meningioma", 0), ("notumor", 0)]


@pytest.fixture
def worker(transactional_db, settings, tmp_path):
    with worker_sharing_media(settings=settings, tmp_path=tmp_path, url=redis_url(REDIS_DB)) as proc:
        yield proc


def test_shadow_results_are_stored_hidden_then_compared_against_the_final_labels(
    worker,
    data_dir,
    site,
    radiologist,
    reviewer,
    curator,
    curator_audit,
    random_model,
    candidate,
    integration_api,
):
    deployment = shadow_start(candidate=candidate, audit=curator_audit)
    webhook_create(
        name="RIS", url="http://127.0.0.1:9/hooks", events=["prediction.completed"], created_by=curator
    )
    # One upload (one transaction) of five plain images: five cases, each predicted once it commits.
    files = {
        f"{label}-{index}.jpg": (
            label,
            sorted((data_dir / "brain_mri" / "train" / label).glob("*.jpg"))[index],
        )
        for label, index in UPLOADS
    }
    report = intake_sources(
        uploads=[(name, path.read_bytes()) for name, (_, path) in files.items()], site=site, user=radiologist,
        source="web", task=Task.BRAIN_MRI, patient_ref="pt-shadow",
    )  # fmt: skip
    assert len(report.accepted) == len(UPLOADS)
    labels = [label for label, _ in files.values()]  # report items say their place in the upload
    truth = {item.case_id: labels[item.position - 1] for item in report.accepted}
    assert list(truth.values()) == [label for label, _ in UPLOADS]  # the unread one last
    case_ids = list(truth)

    def all_shadowed() -> bool:
        finished = [ShadowPrediction.Status.DONE, ShadowPrediction.Status.FAILED]
        return ShadowPrediction.objects.filter(status__in=finished).count() == len(UPLOADS)

    wait_for(all_shadowed, what="every shadow result", log_path=worker.log_path)
    failed = list(ShadowPrediction.objects.exclude(status=ShadowPrediction.Status.DONE).values("pk", "error"))
    assert not failed, failed
    assert set(Case.objects.filter(pk__in=case_ids).values_list("status", flat=True)) == {
        CaseStatus.PREDICTED
    }
    # One shadow result per image, by the candidate alone, each unlike what readers were shown.
    rows = ShadowPrediction.objects.select_related("image")
    assert sorted(r.image.case_id for r in rows) == sorted(case_ids)
    assert {r.deployment_id for r in rows} == {deployment.pk}
    assert {r.label for r in rows} == {CANDIDATE_LABEL}
    assert set(Prediction.objects.values_list("label", flat=True)) == {CHAMPION_LABEL}
    assert all(r.saliency_raw.name == f"shadow/{r.pk}/cam.png" for r in rows)

    cases = list(Case.objects.filter(pk__in=case_ids))
    assert_hidden_from_readers(
        readers=[reviewer, radiologist], api=integration_api, cases=cases, candidate=candidate,
        allowed_labels={CHAMPION_LABEL},
    )  # fmt: skip

    # The readers give the final labels of all but the last case.
    client = Client()
    client.force_login(reviewer)
    for case_id in case_ids[:-1]:
        image = Case.objects.get(pk=case_id).images.get()
        answer = client.post(
            reverse("cases:review_submit", args=[case_id, image.pk]), {"label": truth[case_id], "note": ""}
        )
        assert answer.status_code == 302
    wait_for(
        lambda: Case.objects.filter(pk__in=case_ids[:-1], status=CaseStatus.REVIEWED).count() == 4,
        what="cases reviewed",
    )

    # By hand: the champion says glioma everywhere (right once), the candidate pituitary (right twice).
    comparison = shadow_comparison(deployment=deployment)
    assert comparison.counts["compared"] == 4 and comparison.counts["waiting_for_label"] == 1
    f = comparison.figures
    assert f is not None
    assert (f["champion"]["correct"], f["candidate"]["correct"]) == (1, 2)
    assert (f["champion"]["accuracy"], f["candidate"]["accuracy"]) == (0.25, 0.5)
    assert f["champion"]["macro_f1"] == pytest.approx(0.4 / 3)  # glioma F1 2*(1/4)/(5/4); 3 classes present
    assert f["candidate"]["macro_f1"] == pytest.approx((2 / 3) / 3)  # pituitary F1 2*(1/2)/(3/2)
    assert f["candidate"]["per_class"]["pituitary"]["sensitivity"] == 1.0
    assert f["candidate"]["per_class"]["pituitary"]["specificity"] == 0.0
    assert f["agreement"]["same"] == 0
    assert (f["mcnemar"]["b"], f["mcnemar"]["c"], f["mcnemar"]["p_value"]) == (1, 2, 1.0)

    curator_client = Client()
    curator_client.force_login(curator)
    page = curator_client.get(reverse("lifecycle:shadow", args=[deployment.pk])).content.decode()
    assert '<tr data-metric="accuracy"><th scope="row">Accuracy</th><td>0.250</td><td>0.500</td></tr>' in page
    assert '<li data-count="waiting_for_label"><strong>1</strong>' in page and page.count("<svg") == 3
