"""The study result in the REST API and in webhook payloads, for a real 7-instance MR series."""

from __future__ import annotations

import pytest

from api.services.webhooks import case_summary
from tests.conftest import MR_STUDY_PROBABILITIES

pytestmark = pytest.mark.django_db


def _expected(images) -> dict:
    return {
        "label": "glioma",
        "confidence": 0.91,
        "probabilities": MR_STUDY_PROBABILITIES[5],
        "positive": True,
        "key_image": images[5].pk,
        "images": 7,
        "out_of_scope": 0,  # images outside the model's scope (issue 23 item 1)
    }


def test_detail_and_list_carry_the_study_result(token_client, radiologist, mr_study_predicted):
    case, images = mr_study_predicted
    client = token_client(radiologist, "read")
    detail = client.get(f"/api/v1/cases/{case.pk}/").json()
    assert detail["study_result"] == _expected(images)
    assert detail["study_result"]["key_image"] in {i["id"] for i in detail["images"]}
    (item,) = client.get("/api/v1/cases/").json()["results"]
    assert item["study_result"] == _expected(images)


def test_no_result_yet_is_null(token_client, radiologist, mr_study):
    body = token_client(radiologist, "read").get(f"/api/v1/cases/{mr_study.pk}/").json()
    assert body["study_result"] is None and body["ai"]["label"] == ""


def test_another_sites_user_does_not_get_it(token_client, other_radiologist, mr_study_predicted):
    case, _ = mr_study_predicted
    assert token_client(other_radiologist, "read").get(f"/api/v1/cases/{case.pk}/").status_code == 404


def test_webhook_payloads_carry_the_study_result(mr_study_predicted):
    case, images = mr_study_predicted
    assert case_summary(case)["study_result"] == _expected(images)
