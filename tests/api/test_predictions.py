"""GET /api/v1/predictions/{id}/ and its overlay.png / saliency.png: the shape, the files, the scoping."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image as PILImage

from inference.models import Prediction

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n"


def _prediction(case) -> Prediction:
    return Prediction.objects.get(image__case=case)


def _png(response) -> bytes:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "image/png"
    data = b"".join(response.streaming_content)
    assert data[:8] == PNG
    return data


def test_prediction_shape(token_client, reviewer, predicted):
    row = _prediction(predicted[0])
    body = token_client(reviewer, "read").get(f"/api/v1/predictions/{row.pk}/").json()
    assert body["id"] == row.pk and body["case"] == predicted[0].pk and body["image"] == row.image_id
    assert body["status"] == "done" and body["label"] == row.label
    assert body["probabilities"] == pytest.approx(row.probabilities)
    assert set(body["probabilities"]) == {"glioma", "meningioma", "notumor", "pituitary"}
    assert body["model_version"] == {
        "id": row.model_version_id,
        "name": row.model_version.name,
        "version": row.model_version.version,
        "untrained": True,
    }
    assert body["untrained"] is True and body["members"] == row.members and body["timings"] == row.timings
    base = f"http://testserver/api/v1/predictions/{row.pk}"
    assert (body["saliency_url"], body["overlay_url"]) == (f"{base}/saliency.png", f"{base}/overlay.png")


def test_overlay_and_saliency_are_pngs_rendered_from_the_stored_map(token_client, integration, predicted):
    """An Integration account (no web UI) gets the files through the API."""
    row = _prediction(predicted[0])
    client = token_client(integration, "read")
    overlay = PILImage.open(io.BytesIO(_png(client.get(f"/api/v1/predictions/{row.pk}/overlay.png"))))
    assert overlay.mode == "RGB"
    saliency = PILImage.open(io.BytesIO(_png(client.get(f"/api/v1/predictions/{row.pk}/saliency.png"))))
    image = row.image
    assert saliency.size == (image.cols, image.rows)  # full resolution
    assert np.asarray(saliency).max() > 0
    # Asking for the PNG by its media type works too; the web view and the API serve the same file.
    _png(client.get(f"/api/v1/predictions/{row.pk}/overlay.png", HTTP_ACCEPT="image/png"))
    row.refresh_from_db()
    assert row.saliency_overlay.name  # cached on first request, as by the web view


def test_a_prediction_without_a_map_has_no_file_urls_and_its_files_are_404(token_client, reviewer, predicted):
    row = _prediction(predicted[0])
    Prediction.objects.filter(pk=row.pk).update(saliency_raw="", saliency_overlay="")
    client = token_client(reviewer, "read")
    body = client.get(f"/api/v1/predictions/{row.pk}/").json()
    assert body["saliency_url"] is None and body["overlay_url"] is None
    for kind in ("overlay", "saliency"):
        response = client.get(f"/api/v1/predictions/{row.pk}/{kind}.png", HTTP_ACCEPT="image/png")
        assert response.status_code == 404 and response["Content-Type"] == "application/json"
        assert response.json() == {
            "code": "not_found",
            "message": "This prediction has no saliency map (or it is gone).",
            "errors": {},
        }


def test_another_sites_prediction_and_its_files_are_not_found(token_client, other_radiologist, predicted):
    row = _prediction(predicted[0])
    client = token_client(other_radiologist, "read")
    for path in ("", "overlay.png", "saliency.png"):
        response = client.get(f"/api/v1/predictions/{row.pk}/{path}")
        assert response.status_code == 404
        body = response.json()
        assert body["code"] == "not_found" and body["errors"] == {}
        assert row.label not in response.content.decode()
    assert (
        client.get(f"/api/v1/predictions/{row.pk}/overlay.png").json()
        == client.get("/api/v1/predictions/999999/overlay.png").json()
    )


def test_files_need_a_token(predicted):
    from rest_framework.test import APIClient

    row = _prediction(predicted[0])
    response = APIClient().get(f"/api/v1/predictions/{row.pk}/overlay.png")
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"
