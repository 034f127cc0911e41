"""The one scoring path: decode, score in batches, maps packed at the model's own resolution."""

from __future__ import annotations

import numpy as np
import pytest

from oncocore.predictor import Predictor
from oncocore.preprocessing import load_image
from oncocore.saliency import SaliencyMap
from oncocore.scoring import model_input, overlay_display, score_batches

from .helpers import jpeg_bytes, synthetic_scan


@pytest.fixture(scope="module")
def predictor(random_bundle):
    return Predictor(random_bundle, device="cpu", batch_size=2)


def test_batches_keep_order_report_bad_inputs_and_pack_the_maps(predictor):
    images = {f"img{i}": synthetic_scan(50 + 10 * i, 60, seed=i) for i in range(3)}
    files = {"img0": jpeg_bytes(images["img0"]), "bad": b"not an image", "img1": jpeg_bytes(images["img1"])}
    files["img2"] = jpeg_bytes(images["img2"])
    spec = predictor.members[0].card.preprocessing

    def decode(key: str) -> np.ndarray:
        if key == "gone":
            raise FileNotFoundError(key)
        return model_input(files[key], dicom=False, spec=spec)

    keys = ["img0", "bad", "img1", "gone", "img2"]
    batches = list(score_batches(predictor, keys, decode))
    assert [len(b) for b in batches] == [2, 2, 1]  # the predictor's batch size
    scored = [s for b in batches for s in b]
    assert [s.key for s in scored] == keys
    assert (
        isinstance(scored[1].error, ValueError) and scored[1].result is None and scored[1].saliency_png == b""
    )
    assert isinstance(scored[3].error, FileNotFoundError)
    alone = predictor.predict_batch([decode("img1")])[0]
    for s in (scored[0], scored[2], scored[4]):
        assert s.error is None and s.decode_ms >= 0 and s.result is not None
        stored = SaliencyMap.from_png16(s.saliency_png, s.saliency_meta)
        assert stored.values.shape[0] < spec.input_size  # the cells, not the input
        assert stored.render().shape == s.array.shape[:2]
        np.testing.assert_allclose(stored.render(), s.result.cam, atol=1e-3)
    assert scored[2].result.probabilities == pytest.approx(alone.probabilities, abs=1e-5)


def test_without_saliency_and_with_other_errors(predictor):
    (batch,) = score_batches(predictor, [synthetic_scan()], lambda a: a, saliency=False)
    assert (
        batch[0].result.saliency is None and batch[0].saliency_png == b"" and batch[0].saliency_meta is None
    )

    def boom(_: object) -> np.ndarray:
        raise RuntimeError("not a decode error")

    with pytest.raises(RuntimeError):
        list(score_batches(predictor, [1], boom))
    (batch,) = score_batches(predictor, [1], boom, catch=(RuntimeError,))
    assert isinstance(batch[0].error, RuntimeError)


def test_model_input_decodes_as_training_and_overlay_display_is_8_bit(predictor):
    spec = predictor.members[0].card.preprocessing
    data = jpeg_bytes(synthetic_scan(40, 30))
    np.testing.assert_array_equal(model_input(data, dicom=False, spec=spec), load_image(data, spec.channels))
    with pytest.raises(ValueError):
        model_input(b"garbage", dicom=True, spec=spec)
    gray = synthetic_scan(20, 20)
    assert overlay_display(gray) is gray
    raw = gray.astype(np.float32) * 10 - 1000  # raw values (a spec that windows them itself)
    shown = overlay_display(raw)
    assert shown.dtype == np.uint8 and shown.shape == raw.shape and shown.max() > shown.min()


def test_each_scored_input_carries_its_statistics_for_drift_watch(predictor):
    spec = predictor.members[0].card.preprocessing
    files = {"scan": jpeg_bytes(synthetic_scan(70, 90, seed=3)), "bad": b"not an image"}
    (batch,) = score_batches(
        predictor, ["scan", "bad"], lambda k: model_input(files[k], dicom=False, spec=spec)
    )
    ok, bad = batch
    seen = ok.prepared.by_spec[spec][0].numpy()  # what the model saw, uint8 (C, S, S)
    assert (
        ok.input_stats["height"] == 70 and ok.input_stats["width"] == 90 and ok.input_stats["channels"] == 1
    )
    assert ok.input_stats["mean"] == pytest.approx(seen.mean() / 255, abs=1e-3)
    assert 0 <= ok.input_stats["dark"] <= 1 and 0 < ok.input_stats["std"] <= 0.5
    assert bad.error is not None and bad.input_stats is None
