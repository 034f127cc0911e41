"""The evaluation pages: Curators only (403 for readers), the start form, the comparison, the status JSON, the admin."""

from __future__ import annotations

from html import escape

import numpy as np
import pytest
from django.urls import reverse
from django.utils import timezone

from lifecycle.models import Evaluation, RunStatus
from oncocore.evaluation.compare import compare_results

pytestmark = pytest.mark.django_db
CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]


@pytest.fixture
def sent(mocker):
    return mocker.patch("lifecycle.services.evaluations.current_app.send_task")


@pytest.fixture
def snapshot_row(db):
    from curation.models import Snapshot

    return Snapshot.objects.create(
        task="brain_mri",
        version=1,
        name="brain_mri-v1",
        content_hash="0" * 64,
        class_names=CLASSES,
        manifest="snapshots/brain_mri-v1/manifest.csv",
    )


def fixed_results(candidate, champion) -> dict:
    """Eight images: the champion right on 7, the candidate on 3 (b=5, c=1)."""
    targets = [CLASSES[i % 4] for i in range(8)]
    champion_preds = [*targets[:7], "glioma" if targets[7] != "glioma" else "notumor"]
    candidate_preds = [targets[0], targets[1], "glioma", "glioma", "notumor", "glioma", "glioma", targets[7]]

    def probs(preds):
        out = np.full((8, 4), 0.1)
        for row, name in enumerate(preds):
            out[row, CLASSES.index(name)] = 0.7
        return out

    results = compare_results(
        class_names=CLASSES,
        image_ids=list(range(1, 9)),
        targets=targets,
        candidate_probs=probs(candidate_preds),
        candidate_label=str(candidate),
        champion_probs=probs(champion_preds),
        champion_label=str(champion),
    )
    results["notes"] = ["The champion was trained on the public data folder: 3 of the 8 test images ..."]
    return results


@pytest.fixture
def done(snapshot_row, candidate, champion, curator):
    return Evaluation.objects.create(
        task="brain_mri",
        snapshot=snapshot_row,
        candidate=candidate,
        champion=champion,
        champion_members=[{"version_id": champion.pk, "version": str(champion), "weight": 1.0}],
        status=RunStatus.DONE,
        results=fixed_results(candidate, champion),
        created_by=curator,
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )


@pytest.fixture
def curator_client(client, curator):
    client.force_login(curator)
    return client


def test_readers_get_403_everywhere(client, radiologist, reviewer, done, candidate, sent):
    urls = [
        reverse("lifecycle:evaluations"),
        reverse("lifecycle:evaluation", args=[done.pk]),
        reverse("lifecycle:evaluation_status", args=[done.pk]),
    ]
    for user in (radiologist, reviewer):
        client.force_login(user)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 403, url
            assert str(candidate) not in response.content.decode()
        response = client.post(urls[0], {"candidate": candidate.pk, "split": "test"})
        assert response.status_code == 403
    assert Evaluation.objects.count() == 1
    sent.assert_not_called()
    client.logout()
    assert client.get(urls[0]).status_code == 302  # to the login page


def test_the_list_shows_evaluations_and_offers_only_inactive_candidates(
    curator_client, done, candidate, champion
):
    response = curator_client.get(reverse("lifecycle:evaluations"))
    assert response.status_code == 200
    html = response.content.decode()
    assert f"#{done.pk}" in html and "brain_mri-v1" in html
    form = response.context["form"]
    choices = list(form.fields["candidate"].queryset)
    assert candidate in choices and champion not in choices
    assert "0.375 / 0.875" in html  # accuracy of the candidate (3/8) and the champion (7/8)


def test_the_comparison_page_shows_both_models_side_by_side(curator_client, done, candidate, champion):
    response = curator_client.get(reverse("lifecycle:evaluation", args=[done.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert str(candidate) in html and str(champion) in html
    verdict = response.context["verdict"]
    assert verdict.startswith("The difference is not significant at p<0.05: b=5")
    assert "c=1" in verdict and escape(verdict) in html
    # Exact: n = 6 discordant, k = 1: 2 * (C(6,0) + C(6,1)) / 2^6 = 14/64.
    assert done.results["paired"]["p_value"] == pytest.approx(14 / 64)
    labels = [row["label"] for row in response.context["rows"]]
    assert labels[:5] == [
        "Accuracy",
        "Macro-F1",
        "Balanced accuracy",
        "AUC (macro, one-vs-rest)",
        "ECE (expected calibration error)",
    ]
    assert "glioma: sensitivity" in labels and "pituitary: specificity" in labels
    assert '<td class="num better">0.875</td>' in html  # the champion's accuracy, the better one
    assert "-0.500" in html  # candidate minus champion
    for figure in ("figure-confusion", "figure-roc", "figure-reliability"):
        assert f'id="{figure}"><svg' in html.replace("\n", "")
    assert "Fairness notes" in html and "public data folder" in html
    assert 'id="evaluation-progress"' not in html  # finished: nothing to poll
    # The way on: the candidate's promote page (its gate), from the comparison.
    assert f'id="evaluation-promote" href="/curation/models/{candidate.pk}/promote/"' in html


def test_a_queued_evaluation_polls_its_status(curator_client, done):
    Evaluation.objects.filter(pk=done.pk).update(status=RunStatus.QUEUED, results={}, finished_at=None)
    response = curator_client.get(reverse("lifecycle:evaluation", args=[done.pk]))
    html = response.content.decode()
    status_url = reverse("lifecycle:evaluation_status", args=[done.pk])
    assert f'data-status-url="{status_url}"' in html and "<svg" not in html
    data = curator_client.get(status_url).json()
    assert data["status"] == "queued" and data["finished"] is False and data["verdict"] is None
    Evaluation.objects.filter(pk=done.pk).update(status=RunStatus.FAILED, error="model x@1 unusable: gone")
    data = curator_client.get(status_url).json()
    assert data["finished"] is True and data["error"] == "model x@1 unusable: gone"
    assert (
        "model x@1 unusable: gone"
        in curator_client.get(reverse("lifecycle:evaluation", args=[done.pk])).content.decode()
    )


def test_the_status_json_of_a_finished_evaluation(curator_client, done):
    response = curator_client.get(reverse("lifecycle:evaluation_status", args=[done.pk]))
    assert response["Cache-Control"] == "no-store"
    data = response.json()
    assert (data["status"], data["finished"], data["n"]) == ("done", True, 8)
    assert data["verdict"].startswith("The difference is not significant")
    assert curator_client.get(reverse("lifecycle:evaluation_status", args=[done.pk + 99])).status_code == 404


def test_starting_from_the_form_queues_one_and_opens_its_page(
    curator_client, snapshot, champion, candidate, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = curator_client.post(
            reverse("lifecycle:evaluations"), {"candidate": candidate.pk, "snapshot": "", "split": "test"}
        )
    evaluation = Evaluation.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "lifecycle:evaluation", args=[evaluation.pk]
    )
    assert evaluation.snapshot == snapshot and evaluation.champion == champion
    assert evaluation.created_by.username == "cur"
    sent.assert_called_once()


def test_a_refused_start_shows_the_reason(curator_client, snapshot_row, candidate, sent):
    response = curator_client.post(
        reverse("lifecycle:evaluations"),
        {"candidate": candidate.pk, "snapshot": snapshot_row.pk, "split": "test"},
    )
    assert response.status_code == 400
    assert "snapshot brain_mri-v1 has no test images" in response.content.decode()
    assert not Evaluation.objects.exists()
    sent.assert_not_called()


def test_the_admin_lists_evaluations_read_only(admin_client, done):
    response = admin_client.get(reverse("admin:lifecycle_evaluation_changelist"))
    assert response.status_code == 200 and str(done.candidate) in response.content.decode()
    page = admin_client.get(reverse("admin:lifecycle_evaluation_change", args=[done.pk]))
    assert page.status_code == 200
    assert "McNemar b=5 c=1" in page.content.decode()
    assert admin_client.get(reverse("admin:lifecycle_evaluation_add")).status_code == 403
