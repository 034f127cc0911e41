"""The viewer's data: raw frame values and the header behind permissions, and the case page that loads them."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image as PILImage

from cases.models import Image
from oncocore.imaging.dicom_pixels import frame_values
from tests.conftest import REPO

pytestmark = pytest.mark.django_db

PYDICOM = "dicom/pydicom"
DTYPES = {"uint8": "<u1", "int16": "<i2", "uint16": "<u2", "int32": "<i4", "float32": "<f4"}


def _pixels_url(image: Image, frame: int = 0) -> str:
    return reverse("cases:image_pixels", kwargs={"pk": image.pk, "frame": frame})


def _get_pixels(client, image: Image, frame: int = 0) -> tuple[np.ndarray, dict[str, str]]:
    """The response's values shaped (rows, cols[, samples]), and its headers."""
    response = client.get(_pixels_url(image, frame))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Cache-Control"] == "private, max-age=3600"
    headers = {name: response[name] for name in response.headers if name.startswith("X-")}
    shape: tuple[int, ...] = (int(headers["X-Rows"]), int(headers["X-Columns"]))
    if int(headers["X-Samples"]) > 1:
        shape += (int(headers["X-Samples"]),)
    values = np.frombuffer(response.content, dtype=DTYPES[headers["X-Dtype"]]).reshape(shape)
    return values, headers


def _stored(image: Image) -> bytes:
    with default_storage.open(image.file.name) as handle:
        return handle.read()


def _image_of(report) -> Image:
    assert report.accepted, report.to_dict()
    return Image.objects.get(pk=report.accepted[0].image_id)


def test_ct_values_are_hounsfield_units_with_the_display_window(client, radiologist, ct_case):
    client.force_login(radiologist)
    image = ct_case.images.get()
    values, headers = _get_pixels(client, image)
    expected, photometric, _ = frame_values(_stored(image), frame=0)
    # CT_small stores raw values with Rescale Intercept -1024: the endpoint sends HU.
    assert headers["X-Dtype"] == "int16" and expected.dtype == np.float32
    assert np.array_equal(values, expected)
    assert values.min() < -500  # air, in HU
    assert headers["X-Photometric"] == photometric and headers["X-Monochrome1"] == "0"
    assert headers["X-Samples"] == "1"
    # The window the display PNG was rendered with (a CT preset: the file has none).
    assert float(headers["X-Window-Center"]) == image.window_center
    assert float(headers["X-Window-Width"]) == image.window_width
    assert float(headers["X-Value-Min"]) == values.min() and float(headers["X-Value-Max"]) == values.max()


def test_monochrome1_is_flagged_and_keeps_its_values(client, radiologist, ingest, data_dir):
    image = _image_of(ingest(data_dir / f"{PYDICOM}/dicomdirtests/77654033/CR1/6154"))
    client.force_login(radiologist)
    values, headers = _get_pixels(client, image)
    expected, photometric, _ = frame_values(_stored(image), frame=0)
    assert photometric == "MONOCHROME1"
    assert headers["X-Photometric"] == "MONOCHROME1" and headers["X-Monochrome1"] == "1"
    # A fractional rescale slope: nothing smaller than float32 holds these exactly.
    assert headers["X-Dtype"] == "float32"
    assert np.array_equal(values, expected)


def test_multiframe_mr_sends_the_asked_frame(client, radiologist, ingest, data_dir):
    image = _image_of(ingest(data_dir / "dicom/pydicom-data/emri_small.dcm"))
    assert image.frames == 10
    client.force_login(radiologist)
    values, headers = _get_pixels(client, image, frame=3)
    expected, _, _ = frame_values(_stored(image), frame=3)
    assert headers["X-Dtype"] == "uint16"
    assert np.array_equal(values, expected)
    assert not np.array_equal(values, frame_values(_stored(image), frame=4)[0])
    assert client.get(_pixels_url(image, 10)).status_code == 404


def test_big_endian_rgb_dicom_is_sent_little_endian_interleaved(client, radiologist, ingest, data_dir):
    image = _image_of(ingest(data_dir / f"{PYDICOM}/ExplVR_BigEnd.dcm"))
    client.force_login(radiologist)
    values, headers = _get_pixels(client, image)
    expected, _, _ = frame_values(_stored(image), frame=0)
    assert (headers["X-Samples"], headers["X-Dtype"], headers["X-Photometric"]) == ("3", "uint8", "RGB")
    assert values.shape == (60, 80, 3) and np.array_equal(values, expected)
    assert (headers["X-Window-Center"], headers["X-Window-Width"]) == ("128", "256")  # shown as stored


def test_plain_jpeg_sends_its_decoded_pixels(client, radiologist, jpeg_case):
    client.force_login(radiologist)
    image = jpeg_case.images.get()
    values, headers = _get_pixels(client, image)
    expected = np.asarray(PILImage.open(io.BytesIO(_stored(image))).convert("RGB"))
    assert headers["X-Dtype"] == "uint8" and headers["X-Monochrome1"] == "0"
    assert values.shape == (image.rows, image.cols, 3) and np.array_equal(values, expected)


def test_pixels_and_header_follow_case_permissions(
    client, radiologist, curator, no_role_user, other_site_case
):
    image = other_site_case.images.get()
    urls = [_pixels_url(image), reverse("cases:image_header", kwargs={"pk": image.pk})]
    client.force_login(radiologist)  # another site's radiologist
    for url in urls:
        assert client.get(url).status_code == 404, url
    client.force_login(curator)  # sees all sites
    for url in urls:
        assert client.get(url).status_code == 200, url
    client.force_login(no_role_user)
    for url in urls:
        assert client.get(url).status_code == 403, url
    client.logout()
    for url in urls:
        assert client.get(url).status_code == 302, url
    assert client.post(urls[0]).status_code in (302, 405)


def test_frame_out_of_range_and_missing_file_are_404(client, radiologist, ct_case, site, make_case):
    client.force_login(radiologist)
    image = ct_case.images.get()
    assert client.get(_pixels_url(image, image.frames)).status_code == 404
    orm_only = make_case(site).images.get()  # no stored file behind it
    assert client.get(_pixels_url(orm_only)).status_code == 404


def test_header_json_is_the_deidentified_header(client, radiologist, ct_case):
    client.force_login(radiologist)
    image = ct_case.images.get()
    response = client.get(reverse("cases:image_header", kwargs={"pk": image.pk}))
    assert response.status_code == 200 and response["Cache-Control"] == "private, max-age=3600"
    body = response.json()
    assert body["image"] == image.pk
    by_name = {row["name"]: row for row in body["rows"]}
    assert by_name["Modality"] == {"tag": "(0008,0060)", "name": "Modality", "value": "CT"}
    assert "CompressedSamples" not in response.content.decode()  # CT_small's PatientName


def test_case_page_has_a_viewer_per_series_with_a_fallback(client, radiologist, ct_case):
    client.force_login(radiologist)
    image = ct_case.images.get()
    html = client.get(reverse("cases:case_detail", kwargs={"pk": ct_case.pk})).content.decode()
    assert html.count("data-viewer>") == 1
    assert "js/viewer.js" in html and "css/viewer.css" in html
    data = json.loads(re.search(r'<script type="application/json">(.*?)</script>', html, re.S).group(1))
    entry = data["images"][0]
    assert entry["id"] == image.pk and entry["frames"] == image.frames
    assert entry["pixels"].replace("{frame}", "0") == _pixels_url(image)
    frame_png = reverse("cases:image_frame", kwargs={"pk": image.pk, "frame": 0})
    assert entry["png"].replace("{frame}", "0") == frame_png
    assert entry["saliency"] is None  # not predicted
    assert data["start"] == [0, image.key_frame]
    # Without the script the key frame is still on the page, with its header.
    assert reverse("cases:image_frame", kwargs={"pk": image.pk, "frame": image.key_frame}) in html
    assert "De-identified header" in html
    # CT_small's header names no task: the panel asks for one instead of promising a result (issue 23).
    assert "this study needs a task</a> first." in html and "No AI result for this image yet." not in html


def test_case_page_gives_the_viewer_the_raw_saliency_of_the_predicted_frame(
    client, radiologist, brain_case, random_model, mocker
):
    from inference.models import Prediction
    from inference.pipeline import predictions_run
    from inference.services import prediction_request

    mocker.patch("inference.services.run_predictions.delay")
    case = brain_case.first()
    predictions_run(prediction_ids=[p.pk for p in prediction_request(case=case)])
    prediction = Prediction.objects.get(image__case=case)
    client.force_login(radiologist)
    html = client.get(reverse("cases:case_detail", kwargs={"pk": case.pk})).content.decode()
    data = json.loads(re.search(r'<script type="application/json">(.*?)</script>', html, re.S).group(1))
    entry = data["images"][0]
    assert entry["saliency"] == reverse("inference:prediction_file", args=[prediction.pk, "saliency"])
    assert entry["saliencyFrame"] == prediction.frame == 0
    assert f'id="prediction-{prediction.pk}"' in html and 'class="prob-bars"' in html
    assert reverse("inference:prediction_file", args=[prediction.pk, "overlay"]) in html  # the no-script view


def test_viewer_colours_the_map_with_the_servers_colormap():
    from oncocore.saliency import _colormap_lut

    source = (REPO / "static/js/viewer.js").read_text()
    block = re.search(r"const TURBO = Uint8Array\.from\(\s*\[(.*?)\]\.join", source, re.S).group(1)
    hex_digits = "".join(re.findall(r'"([0-9a-f]+)"', block))
    lut = np.frombuffer(bytes.fromhex(hex_digits), dtype=np.uint8).reshape(256, 3)
    assert np.array_equal(lut, _colormap_lut("turbo"))


def _window_presets(html: str) -> list[dict]:
    found = re.search(r'<script id="window-presets" type="application/json">(.*?)</script>', html, re.S)
    assert found is not None, "the page has no window-presets script"
    return json.loads(found.group(1))


def test_the_viewer_gets_the_renderers_window_presets(client, radiologist, ct_case):
    from oncocore.imaging import PRESETS

    client.force_login(radiologist)
    html = client.get(reverse("cases:case_detail", kwargs={"pk": ct_case.pk})).content.decode()
    presets = _window_presets(html)
    # The same (center, width) the server renders CT with: one definition, in oncocore/tasks.py.
    assert {f"ct_{p['key']}": (p["center"], p["width"]) for p in presets} == PRESETS
    for p in presets:
        assert f'data-preset="{p["key"]}"' in html and f">{p['label']}</button>" in html
    source = (REPO / "static/js/viewer.js").read_text()
    assert 'getElementById("window-presets")' in source
    assert not re.search(r"\b(lung|mediastinum|brain|bone):\s*\[", source)  # no copy of its own


def test_a_declared_tasks_own_presets_join_the_viewers(client, radiologist, ct_case):
    from cases.services.case import case_change_task
    from cases.services.task import task_ensure_for_card
    from oncocore.model_card import ModelCard
    from oncocore.preprocessing import PreprocessSpec

    own = {"key": "soft", "label": "Soft tissue", "center": 60, "width": 360}
    card = ModelCard(
        name="chest-ct", version="1", task="chest_ct_nodes", arch="tinycnn", class_names=("a", "b"),
        preprocessing=PreprocessSpec(input_size=32), task_definition={"modality": "CT", "presets": [own]},
    )  # fmt: skip
    task_ensure_for_card(card=card)
    case_change_task(case=ct_case, task="chest_ct_nodes", user=radiologist)
    client.force_login(radiologist)
    html = client.get(reverse("cases:case_detail", kwargs={"pk": ct_case.pk})).content.decode()
    presets = _window_presets(html)
    assert [p["key"] for p in presets] == ["lung", "mediastinum", "brain", "bone", "soft"]
    assert presets[-1] == {**own, "center": 60.0, "width": 360.0} and 'data-preset="soft"' in html
