"""The case page's image viewer in a real Chromium: overlay, window/level, zoom, reset, scrolling, header."""

from __future__ import annotations

import pytest

from cases.templatetags.cases_tags import class_label
from tests.browser.support import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

# A hash of the canvas's pixels and where they are, after the viewer's pending animation frame.
CANVAS_HASH = """async () => {
  await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  const canvas = document.querySelector("[data-viewer] canvas");
  const px = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let hash = 0;
  for (let i = 0; i < px.length; i += 4) hash = (Math.imul(hash, 31) + px[i] * 65536 + px[i + 1] * 256 + px[i + 2]) | 0;
  return hash;
}"""


@pytest.fixture
def predicted_mr(data_dir, site, radiologist, request):
    """A 10-frame MR (emri_small) predicted in-process by the untrained test model on its key frame."""
    from unittest import mock

    from cases.models import Case, Task
    from cases.services.intake import intake_sources
    from inference.pipeline import predictions_run
    from inference.services import prediction_request

    path = data_dir / "dicom/pydicom-data/emri_small.dcm"
    report = intake_sources(
        uploads=[(path.name, path.read_bytes())],
        site=site,
        user=radiologist,
        source="web",
        task=Task.BRAIN_MRI,
        patient_ref="pt-viewer",
    )
    case = Case.objects.get(pk=report.accepted[0].case_id)
    request.getfixturevalue("random_model")  # active only now: the intake queued nothing
    with mock.patch("inference.services.run_predictions.delay"):
        ids = [p.pk for p in prediction_request(case=case)]
    predictions_run(prediction_ids=ids)
    return case


def test_viewer_overlay_window_zoom_reset_and_slices(page, live_server, radiologist, predicted_mr, artifacts):
    from inference.models import Prediction

    prediction = Prediction.objects.get(image__case=predicted_mr)
    assert prediction.status == "done" and prediction.frame == 5
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    log_in(page, live_server.url, radiologist)
    page.goto(f"{live_server.url}/cases/{predicted_mr.pk}/")
    viewer = page.locator("[data-viewer]")
    window_readout = viewer.locator("[data-readout-window]")
    position = viewer.locator("[data-readout-position]")
    stage = viewer.locator(".viewer-stage")
    window_readout.filter(has_text="W ").wait_for()
    # It opens on the frame the model read, with that image's AI result beside it.
    assert position.text_content() == "6 / 10"
    assert "frame 6/10" in viewer.locator("[data-readout-image]").text_content()
    panel = viewer.locator(f"#prediction-{prediction.pk}")
    # Readable class names (issue 23).
    assert panel.is_visible() and class_label(prediction.label, "brain_mri") in panel.text_content()

    # Saliency overlay on, then stronger.
    plain = page.evaluate(CANVAS_HASH)
    viewer.get_by_role("checkbox", name="Saliency overlay").check()
    with_map = page.evaluate(CANVAS_HASH)
    assert with_map != plain
    viewer.get_by_label("Opacity").fill("90")
    assert viewer.locator("[data-opacity-value]").text_content() == "90%"
    assert page.evaluate(CANVAS_HASH) not in (plain, with_map)

    # Left-drag changes window/level; a preset sets it exactly.
    default_window = window_readout.text_content()
    # The study result sits above the viewer: bring the canvas into the 768 px window first.
    viewer.locator("canvas").scroll_into_view_if_needed()
    box = viewer.locator("canvas").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 120, y + 60, steps=6)
    page.mouse.up()
    assert window_readout.text_content() not in ("", default_window)
    assert viewer.locator('[data-preset][aria-pressed="true"]').count() == 0
    # An MR is offered no CT window (issue 23: presets by modality); Default brings the file's back.
    assert viewer.locator("[data-preset]").all_text_contents() == ["Default"]
    viewer.get_by_role("button", name="Default").click()
    assert window_readout.text_content() == default_window

    # Zoom with the button and ctrl+wheel; shift-drag pans.
    zoom_readout = viewer.locator("[data-readout-zoom]")
    fitted = zoom_readout.text_content()
    viewer.get_by_role("button", name="Zoom in").click()
    page.wait_for_function("() => document.querySelector('[data-viewer]').dataset.zoom === '1.25'")
    page.mouse.move(x, y)
    page.keyboard.down("Control")
    page.mouse.wheel(0, -100)
    page.keyboard.up("Control")
    page.wait_for_function("() => document.querySelector('[data-viewer]').dataset.zoom === '1.563'")
    assert zoom_readout.text_content() != fitted
    before_pan = page.evaluate(CANVAS_HASH)
    page.keyboard.down("Shift")
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 80, y, steps=4)
    page.mouse.up()
    page.keyboard.up("Shift")
    assert page.evaluate(CANVAS_HASH) != before_pan
    page.screenshot(path=str(artifacts / "viewer-zoomed.png"))

    # R resets zoom, pan and window.
    stage.focus()
    page.keyboard.press("r")
    page.wait_for_function("() => document.querySelector('[data-viewer]').dataset.zoom === '1'")
    assert window_readout.text_content() == default_window
    assert zoom_readout.text_content() == fitted

    # Arrow keys and the wheel move through the frames; the map stays on the frame the model read.
    page.keyboard.press("ArrowDown")
    assert position.text_content() == "7 / 10"
    note = viewer.locator("[data-note]")
    note.filter(has_text="frame 6").wait_for()
    page.mouse.move(x, y)
    page.mouse.wheel(0, 100)
    page.wait_for_function("() => document.querySelector('[data-viewer]').dataset.position === '8'")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    assert position.text_content() == "6 / 10"
    note.wait_for(state="hidden")
    page.keyboard.press("o")
    assert not viewer.get_by_role("checkbox", name="Saliency overlay").is_checked()

    # The side panel's header loads on demand.
    viewer.get_by_text("De-identified header").click()
    viewer.locator(".header-table").get_by_text("Modality").wait_for()
    page.keyboard.press("End")
    assert position.text_content() == "10 / 10"

    page.keyboard.press("Home")
    window_readout.filter(has_text="W ").wait_for()
    viewer.get_by_role("checkbox", name="Saliency overlay").check()
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(artifacts / "viewer.png"))
    assert errors == []


def test_viewer_shows_a_plain_rgb_image(page, live_server, radiologist, brain_case, artifacts):
    """Brain MRI JPEGs are stored as RGB: windowing applies per channel."""
    case = brain_case.first()
    log_in(page, live_server.url, radiologist)
    page.goto(f"{live_server.url}/cases/{case.pk}/")
    viewer = page.locator("[data-viewer]")
    viewer.locator("[data-readout-window]").filter(has_text="W 256 L 128").wait_for()
    assert viewer.locator("[data-readout-position]").text_content() == "1 / 1"
    assert viewer.get_by_role("checkbox", name="Saliency overlay").is_disabled()  # not predicted
    first = page.evaluate(CANVAS_HASH)
    assert first != 0
    # No CT presets on an MR image: window it by dragging.
    assert viewer.locator("[data-preset]").all_text_contents() == ["Default"]
    viewer.locator("canvas").scroll_into_view_if_needed()
    box = viewer.locator("canvas").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 120, y + 60, steps=6)
    page.mouse.up()
    assert page.evaluate(CANVAS_HASH) != first


def test_ct_presets_set_the_window_on_a_ct_image(page, live_server, radiologist, data_dir):
    """The CT presets are offered on CT (and only there: the MR tests above) and set the window exactly."""
    from cases.models import Task
    from cases.services.intake import intake_sources

    path = data_dir / "dicom/pydicom/CT_small.dcm"
    report = intake_sources(
        uploads=[(path.name, path.read_bytes())], site=radiologist.site, user=radiologist, source="web",
        task=Task.LUNG_CT,
    )  # fmt: skip
    log_in(page, live_server.url, radiologist)
    page.goto(f"{live_server.url}/cases/{report.case_ids[0]}/")
    viewer = page.locator("[data-viewer]")
    window_readout = viewer.locator("[data-readout-window]")
    window_readout.filter(has_text="W ").wait_for()
    assert viewer.locator("[data-preset]").all_text_contents() == [
        "Default",
        "Lung",
        "Mediastinum",
        "Brain",
        "Bone",
    ]
    viewer.get_by_role("button", name="Lung").click()
    assert window_readout.text_content() == "W 1500 L -600 · Lung"
    # The renderer's soft-tissue window (the registry's), not the 350/50 the script once kept.
    viewer.get_by_role("button", name="Mediastinum").click()
    assert window_readout.text_content() == "W 400 L 40 · Mediastinum"
