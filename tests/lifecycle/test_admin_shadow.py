"""The shadow admin is read-only and shows the runs and their results to staff."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from lifecycle.models import ShadowDeployment, ShadowPrediction

pytestmark = pytest.mark.django_db


def test_staff_see_runs_and_results_but_cannot_add_change_or_delete(
    make_case, site, random_model, candidate, admin_user
):
    deployment = ShadowDeployment.objects.create(task="brain_mri", candidate=candidate)
    row = ShadowPrediction.objects.create(
        deployment=deployment,
        image=make_case(site, task="brain_mri").images.get(),
        model_version=candidate,
        status="done",
        label="pituitary",
    )
    client = Client()
    client.force_login(admin_user)
    for model, pk in (("shadowdeployment", deployment.pk), ("shadowprediction", row.pk)):
        assert client.get(reverse(f"admin:lifecycle_{model}_changelist")).status_code == 200
        page = client.get(reverse(f"admin:lifecycle_{model}_change", args=[pk]))
        assert page.status_code == 200 and b'name="_save"' not in page.content
        assert client.get(reverse(f"admin:lifecycle_{model}_add")).status_code == 403
        assert (
            client.post(reverse(f"admin:lifecycle_{model}_delete", args=[pk]), {"post": "yes"}).status_code
            == 403
        )
    assert ShadowPrediction.objects.filter(pk=row.pk, label="pituitary").exists()
