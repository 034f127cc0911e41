"""Predictor: probabilities, uncertainty, CAM geometry, batching, ensembles, AMP path."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
import torch

from oncocore.predictor import Predictor, iter_prepared, select_device
from oncocore.registry import make_random_bundle

from .helpers import BRAIN_CLASSES, jpeg_bytes, synthetic_scan


@pytest.fixture(scope="module")
def predictor(random_bundle):
    return Predictor(random_bundle, device="cpu", batch_size=2)


def test_single_model_results(predictor):
    images = [synthetic_scan(80, 60, seed=0), synthetic_scan(50, 90, seed=1), synthetic_scan(64, 64, seed=2)]
    results = predictor.predict_batch(images)
    assert len(results) == 3
    for img, r in zip(images, results, strict=True):
        assert set(r.probabilities) == set(BRAIN_CLASSES)
        assert sum(r.probabilities.values()) == pytest.approx(1.0, abs=1e-6)
        assert 0.0 <= r.uncertainty <= 1.0
        assert r.label == max(r.probabilities, key=r.probabilities.get)
        assert r.confidence == pytest.approx(r.probabilities[r.label])
        assert r.cam is not None and r.cam.shape == img.shape and r.cam.dtype == np.float32
        assert np.isfinite(r.cam).all() and r.cam.min() >= 0 and r.cam.max() <= 1
        assert set(r.timings) >= {"preprocess_ms", "forward_ms", "saliency_ms"}
        assert r.untrained and r.device == "cpu" and r.model_versions[0].endswith("0.0.0+untrained")
        assert r.member_probabilities is None and r.disagreement == pytest.approx(0.0, abs=1e-9)
        assert r.to_dict()["label"] == r.label


def test_batching_preserves_order_and_values(predictor):
    images = [synthetic_scan(70, 70, seed=i) for i in range(5)]
    together = predictor.predict_batch(images, saliency=False)  # batch_size=2 -> 3 batches
    alone = [predictor.predict_batch([img], saliency=False)[0] for img in images]
    for a, b in zip(together, alone, strict=True):
        assert a.cam is None
        for c in BRAIN_CLASSES:
            assert a.probabilities[c] == pytest.approx(b.probabilities[c], abs=1e-5)
    assert predictor.predict_batch([]) == []


def test_sources_paths_and_bytes(predictor, tmp_path):
    img = synthetic_scan(60, 60)
    data = jpeg_bytes(img)
    (tmp_path / "a.jpg").write_bytes(data)
    r_path, r_bytes = predictor.predict_sources([tmp_path / "a.jpg", data])
    assert r_path.probabilities == r_bytes.probabilities
    with pytest.raises(ValueError, match="cannot decode"):
        predictor.predict_sources([b"garbage"])


def test_ensemble(random_bundle, tmp_path):
    other = tmp_path / "other"
    make_random_bundle(
        other, task="brain_mri", class_names=BRAIN_CLASSES, arch="tinycnn", input_size=48, seed=7
    )
    ens = Predictor([random_bundle, other], weights=[3, 1], device="cpu")
    (r,) = ens.predict_batch([synthetic_scan(70, 50)])
    assert len(r.member_probabilities) == 2 and len(r.model_versions) == 2
    mixed = {
        c: 0.75 * r.member_probabilities[0][c] + 0.25 * r.member_probabilities[1][c] for c in BRAIN_CLASSES
    }
    for c in BRAIN_CLASSES:
        assert r.probabilities[c] == pytest.approx(mixed[c], abs=1e-6)
    assert r.disagreement >= 0 and r.cam.shape == (70, 50)
    bad = tmp_path / "bad"
    make_random_bundle(bad, task="brain_mri", class_names=["x", "y"])
    with pytest.raises(ValueError, match="disagree"):
        Predictor([random_bundle, bad], device="cpu")
    with pytest.raises(ValueError, match="weights"):
        Predictor([random_bundle, other], weights=[1, -1], device="cpu")


def test_ensemble_cam_explains_the_ensemble_label(random_bundle, tmp_path):
    """The fused per-member pass gives the same maps as explaining the ensemble's label member by member."""
    from oncocore.saliency import cam_to_original, gradcam

    other = tmp_path / "other"
    make_random_bundle(
        other, task="brain_mri", class_names=BRAIN_CLASSES, arch="tinycnn", input_size=48, seed=3
    )
    ens = Predictor([random_bundle, other], weights=[1, 1], device="cpu")
    images = [synthetic_scan(60 + 3 * i, 40, seed=i) for i in range(8)]
    results = ens.predict_batch(images)
    labels = [BRAIN_CLASSES.index(r.label) for r in results]
    prepared = [ens.prepare(img) for img in images]
    disagreed = 0
    for k, r in enumerate(results):
        expected = 0.0
        for j, m in enumerate(ens.members):
            spec = m.card.preprocessing
            x = ens._inputs([prepared[k]], spec)
            cam = gradcam(m.model, x, m.layer, [labels[k]])[0]
            expected = expected + m.weight * cam_to_original(cam, prepared[k].by_spec[spec][1])
            own = max(r.member_probabilities[j], key=r.member_probabilities[j].get)
            disagreed += own != r.label
        np.testing.assert_allclose(r.cam, np.clip(expected, 0, 1), atol=1e-4)
    assert disagreed > 0  # the second pass for a member outvoted by the ensemble was exercised


def test_bf16_channels_last_path_matches_fp32(tmp_path):
    bundle = tmp_path / "r18"
    make_random_bundle(bundle, task="brain_mri", class_names=BRAIN_CLASSES, arch="resnet18", input_size=32)
    fp32 = Predictor(bundle, device="cpu", amp=False, channels_last=False)
    amp = Predictor(bundle, device="cpu", amp=True, channels_last=True)  # the CUDA code path, on CPU
    images = [synthetic_scan(50, 50, seed=i) for i in range(3)]
    for a, b in zip(fp32.predict_batch(images), amp.predict_batch(images), strict=True):
        for c in BRAIN_CLASSES:
            assert a.probabilities[c] == pytest.approx(b.probabilities[c], abs=0.05)
        assert b.cam.shape == (50, 50) and np.isfinite(b.cam).all()


@pytest.mark.parametrize("arch", ["resnet10", "efficientnet_lite0"])
def test_serving_defaults_fold_batchnorm_and_use_nhwc_on_the_cpu(tmp_path, arch):
    # The defaults (BatchNorm folded, NHWC) give what the plain model gives.
    bundle = tmp_path / arch
    make_random_bundle(bundle, task="brain_mri", class_names=BRAIN_CLASSES, arch=arch, input_size=64)
    plain = Predictor(bundle, device="cpu", channels_last=False, fold_bn=False)
    fast = Predictor(bundle, device="cpu")
    assert fast.channels_last and not plain.channels_last
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.members[0].model.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.members[0].model.modules())
    images = [synthetic_scan(70, 60, seed=i) for i in range(3)]
    # The batch is stacked straight into NHWC, with the values the plain path gives.
    spec = fast.members[0].card.preprocessing
    prepared = [fast.prepare(img) for img in images]
    x_fast, x_plain = fast._inputs(prepared, spec), plain._inputs(prepared, spec)
    assert x_fast.is_contiguous(memory_format=torch.channels_last) and x_plain.is_contiguous()
    assert torch.equal(x_fast, x_plain)
    for a, b in zip(plain.predict_batch(images), fast.predict_batch(images), strict=True):
        assert a.label == b.label
        for c in BRAIN_CLASSES:
            assert a.probabilities[c] == pytest.approx(b.probabilities[c], abs=1e-5)
        np.testing.assert_allclose(b.cam, a.cam, atol=1e-3)


def test_iter_prepared_overlaps_and_keeps_order():
    active, peak, lock = [0], [0], threading.Lock()

    def slow(i):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.01)
        with lock:
            active[0] -= 1
        return i * i

    batches = list(iter_prepared(range(7), slow, batch_size=3, num_workers=3))
    assert batches == [[0, 1, 4], [9, 16, 25], [36]]
    assert peak[0] > 1


def test_select_device():
    assert select_device("cpu") == torch.device("cpu")
    assert select_device().type in {"cpu", "cuda", "mps"}


def test_an_ensemble_preprocessed_alike_keeps_its_map_at_the_cells_resolution(random_bundle, tmp_path):
    """Issue 17: members with one spec add up on their common grid; the render is today's full map."""
    from oncocore.saliency import SaliencyMap, cam_to_original, gradcam

    other = tmp_path / "same-spec"
    make_random_bundle(
        other, task="brain_mri", class_names=BRAIN_CLASSES, arch="tinycnn", input_size=64, seed=5
    )
    ens = Predictor([random_bundle, other], weights=[2, 1], device="cpu")
    assert len(ens.specs) == 1
    images = [synthetic_scan(60 + 7 * i, 45, seed=i) for i in range(4)]
    results = ens.predict_batch(images)
    for img, r in zip(images, results, strict=True):
        assert r.saliency is not None and r.saliency.geometry == r.geometry and not r.saliency.rescale
        assert r.saliency.values.shape[0] < 64  # the cells, not the 64 px input
        prepared = ens.prepare(img)
        label = BRAIN_CLASSES.index(r.label)
        expected = sum(
            m.weight
            * cam_to_original(
                gradcam(m.model, ens._inputs([prepared], m.card.preprocessing), m.layer, [label])[0],
                prepared.by_spec[m.card.preprocessing][1],
            )
            for m in ens.members
        )
        # Upsampling and placement are linear and grad-cam's rescaling after its resize is affine:
        # the sum of the cells renders today's map, up to the 16-bit steps and float error.
        assert r.cam.shape == img.shape
        np.testing.assert_allclose(r.cam, np.clip(expected, 0, 1), atol=2e-3)
        stored = SaliencyMap.from_png16(r.saliency.to_png16(), json.loads(json.dumps(r.saliency.meta())))
        np.testing.assert_allclose(stored.render(), r.cam, atol=1e-3)
