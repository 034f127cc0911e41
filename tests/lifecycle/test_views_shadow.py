"""The Curator's shadow pages: list, start, stop, the comparison page with its charts; who may do what."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from cases.models import AuditEvent
from curation.models import Example, Provenance
from inference.models import Prediction
from lifecycle.models import ShadowDeployment, ShadowPrediction

pytestmark = pytest.mark.django_db


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_curator_starts_a_run_from_the_list_and_stops_it(random_model, candidate, curator):
    client = login(curator)
    page = client.get(reverse("lifecycle:shadows"))
    assert page.status_code == 200 and b"No shadow run yet" in page.content
    assert f'value="{candidate.pk}"'.encode() in page.content  # offered as a candidate
    assert f'value="{random_model.pk}"'.encode() not in page.content  # the active one is not
    answer = client.post(reverse("lifecycle:shadow_start"), {"candidate": candidate.pk, "note": "May"})
    deployment = ShadowDeployment.objects.get()
    assert answer.status_code == 302 and answer["Location"] == reverse(
        "lifecycle:shadow", args=[deployment.pk]
    )
    listing = client.get(reverse("lifecycle:shadows")).content.decode()
    assert f'data-shadow="{deployment.pk}"' in listing and "Running" in listing
    detail = client.get(reverse("lifecycle:shadow", args=[deployment.pk]))
    assert detail.status_code == 200 and b'id="shadow-nothing-yet"' in detail.content
    assert client.post(reverse("lifecycle:shadow_stop", args=[deployment.pk])).status_code == 302
    assert (
        client.post(reverse("lifecycle:shadow_stop", args=[deployment.pk])).status_code == 302
    )  # idempotent
    deployment.refresh_from_db()
    assert not deployment.running and deployment.stopped_by == curator
    assert AuditEvent.objects.filter(action="shadow.stopped", source="web").count() == 1


def test_a_refused_start_says_why_and_stores_nothing(random_model, candidate, curator):
    client = login(curator)
    client.post(reverse("lifecycle:shadow_start"), {"candidate": candidate.pk})
    # Already running: no longer offered, so the form refuses the choice itself.
    answer = client.post(reverse("lifecycle:shadow_start"), {"candidate": candidate.pk})
    assert answer.status_code == 400 and b"field-error" in answer.content
    answer = client.post(reverse("lifecycle:shadow_start"), {"candidate": random_model.pk})
    assert answer.status_code == 400
    assert ShadowDeployment.objects.count() == 1


def test_a_curator_without_promote_model_sees_the_pages_but_cannot_start_or_stop(
    random_model, candidate, make_user, site, curator
):
    client = login(curator)
    client.post(reverse("lifecycle:shadow_start"), {"candidate": candidate.pk})
    deployment = ShadowDeployment.objects.get()
    viewer = make_user("curating-reviewer", "Reviewer", site)
    viewer.user_permissions.add(Permission.objects.get(codename="curate_dataset"))
    client = login(viewer)
    page = client.get(reverse("lifecycle:shadows"))
    assert page.status_code == 200 and b"shadow-start-form" not in page.content
    assert client.get(reverse("lifecycle:shadow", args=[deployment.pk])).status_code == 200
    assert client.post(reverse("lifecycle:shadow_stop", args=[deployment.pk])).status_code == 403
    assert client.post(reverse("lifecycle:shadow_start"), {"candidate": candidate.pk}).status_code == 403
    deployment.refresh_from_db()
    assert deployment.running


def test_an_unknown_run_is_404(curator):
    client = login(curator)
    assert client.get(reverse("lifecycle:shadow", args=[999])).status_code == 404
    assert client.post(reverse("lifecycle:shadow_stop", args=[999])).status_code == 404


def test_the_comparison_page_shows_the_figures_and_the_charts(
    make_case, site, random_model, candidate, curator
):
    """Four labelled images and one waiting, rows written directly (the worker test scores real ones)."""
    deployment = ShadowDeployment.objects.create(task="brain_mri", candidate=candidate, started_by=curator)
    # (final label or None while unread, champion, candidate)
    plan = [
        ("glioma", "glioma", "pituitary"),
        ("pituitary", "glioma", "pituitary"),
        ("pituitary", "glioma", "pituitary"),
        ("meningioma", "glioma", "pituitary"),
        (None, "glioma", "pituitary"),
        ("", "glioma", "pituitary"),  # non-diagnostic
    ]
    now = timezone.now()
    for final, champion, shadow in plan:
        case = make_case(site, task="brain_mri")
        image = case.images.get()
        Prediction.objects.create(image=image, model_version=random_model, status="done", label=champion)
        ShadowPrediction.objects.create(
            deployment=deployment, image=image, model_version=candidate, status="done", label=shadow
        )
        if final is not None:
            Example.objects.create(
                image=image, case=case, site=site, task="brain_mri", label=final,
                provenance=Provenance.NON_DIAGNOSTIC if final == "" else Provenance.CORRECTED,
                group=f"g{case.pk}", labelled_at=now,
            )  # fmt: skip
    page = login(curator).get(reverse("lifecycle:shadow", args=[deployment.pk])).content.decode()
    assert '<li data-count="compared"><strong>4</strong>' in page
    assert '<li data-count="waiting_for_label"><strong>1</strong>' in page
    assert '<li data-count="non_diagnostic">1 ' in page
    # Champion right once (glioma), candidate twice (the pituitaries): accuracy 0.25 and 0.5.
    assert '<tr data-metric="correct"><th scope="row">Correct</th><td>1</td><td>2</td></tr>' in page
    assert '<tr data-metric="accuracy"><th scope="row">Accuracy</th><td>0.250</td><td>0.500</td></tr>' in page
    # Macro-F1 over the three classes present: champion 0.4/3, candidate (2/3)/3.
    assert "<td>0.133</td><td>0.222</td>" in page
    assert 'data-agreement="0"' in page and 'data-mcnemar-b="1" data-mcnemar-c="2"' in page
    assert page.count("<svg") == 3 and 'id="shadow-discordant"' in page
