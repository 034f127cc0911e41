"""Inference throughput, measured side by side in one run on the same images and model.

    .venv/bin/python bench/inference.py [--images 96] [--device cpu|cuda] [--bundle DIR]

Rows (images/second), run interleaved for --rounds rounds; each row's median is reported:
  decode ceiling      stored file -> model input array, in the worker's thread pool (no model)
  bare forward        pre-decoded tensors in memory, model forward only
  bare forward+CAM    the same plus Grad-CAM for the predicted class (the ceiling): the
                      pipeline's own fused pass (oncocore.saliency.gradcam_lowres)
  pipeline            the platform's worker path end to end: claim rows, decode, preprocess,
                      batch, forward, Grad-CAM, store each map (its cells) and rows
  naive worker        one task per image that loads the model each time, same code otherwise

It runs on a throw-away SQLite database and file store in a temporary folder.
Without --bundle it uses an untrained bundle of the shipped architecture and input
size: speed does not depend on the weights.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _setup_django(var_dir: Path) -> None:
    os.environ["ONCOPORTAL_VAR_DIR"] = str(var_dir)
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oncoportal.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=96, help="real brain MRI images to use")
    parser.add_argument("--naive-images", type=int, default=12, help="images for the (slow) naive worker")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: best available)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--bundle", type=Path, help="bundle to measure (default: untrained resnet10 at 128 px)"
    )
    parser.add_argument("--arch", default="resnet10")
    parser.add_argument("--input-size", type=int, default=128)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("ONCOPORTAL_DATA_DIR", REPO.parent / "shared" / "data")),
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; medians are reported")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="oncoportal-bench-"))
    _setup_django(tmp / "var")
    os.environ["ONCOPORTAL_BATCH_SIZE"] = str(args.batch_size)

    import torch
    from django.conf import settings

    settings.INFERENCE_BATCH_SIZE = args.batch_size
    if args.device:
        settings.INFERENCE_DEVICE = args.device

    from cases.models import Site, Task
    from cases.services.intake import intake_sources
    from inference.decode import serving_array
    from inference.models import Prediction
    from inference.pipeline import predictions_run
    from inference.services import model_version_activate, model_version_register, prediction_request
    from oncocore import registry
    from oncocore.nets import gradcam_target_layer
    from oncocore.predictor import Predictor, iter_prepared
    from oncocore.preprocessing import normalize_uint8, prepare_uint8
    from oncocore.saliency import gradcam_lowres

    bundle = args.bundle
    if bundle is None:
        bundle = tmp / "bundle"
        card = registry.make_random_bundle(
            bundle,
            task=Task.BRAIN_MRI,
            class_names=["glioma", "meningioma", "notumor", "pituitary"],
            arch=args.arch,
            input_size=args.input_size,
        )
    card = registry.load_card(bundle)
    spec = card.preprocessing
    # Real images, ingested once (not timed) before any model is active; the pipeline reads them from storage.
    paths = sorted((args.data_dir / "brain_mri" / "train").glob("*/*.jpg"))[: args.images]
    if len(paths) < args.images:
        sys.exit(f"bench: only {len(paths)} images under {args.data_dir}/brain_mri")
    site = Site.objects.create(code="bench", name="Bench")
    intake_sources(
        uploads=[(p.name, p.read_bytes()) for p in paths],
        site=site,
        user=None,
        source="cli",
        task=Task.BRAIN_MRI,
    )
    from cases.models import Case, Image

    # Activated after intake, so nothing was queued yet: the pipeline run below does all the work.
    version, _ = model_version_register(bundle_dir=bundle)
    model_version_activate(version=version, exclusive=True)

    images = list(Image.objects.order_by("pk"))
    n = len(images)
    predictor = Predictor(bundle, device=args.device, batch_size=args.batch_size)
    device = predictor.device
    member = predictor.members[0]
    layer = gradcam_target_layer(member.model, card.arch)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    from unittest import mock

    from django.core.files.storage import default_storage

    from inference import scoring

    with mock.patch("inference.services.run_predictions.delay"):
        ids = [p.pk for case in Case.objects.all() for p in prediction_request(case=case)]
    k = min(args.naive_images, n)

    # Each row is a function returning images/second. The rows run interleaved,
    # round after round, and each row's median over the rounds is reported: a
    # burst of load from elsewhere on the machine then hits one round of every
    # row rather than all rounds of one row.
    x_all: torch.Tensor | None = None

    def decode_ceiling() -> float:
        # Storage -> array -> stage-A uint8 tensor, in the pipeline's thread pool.
        nonlocal x_all
        t0 = time.perf_counter()
        decoded = []
        for batch in iter_prepared(
            images, lambda im: prepare_uint8(serving_array(im, spec), spec)[0], batch_size=args.batch_size
        ):
            decoded.extend(batch)
        rate = n / (time.perf_counter() - t0)
        x_all = normalize_uint8(torch.stack(decoded).to(device), spec)  # (N, C, S, S), for the bare loops
        if predictor.channels_last:  # in the memory format the pipeline feeds the model (Predictor._inputs)
            x_all = x_all.contiguous(memory_format=torch.channels_last)
        return rate

    def bare_forward() -> float:
        assert x_all is not None
        sync()
        t0 = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, n, args.batch_size):
                member.model(x_all[i : i + args.batch_size]).argmax(1).tolist()
        sync()
        return n / (time.perf_counter() - t0)

    def bare_forward_cam() -> float:
        # The ceiling runs the pipeline's own fused pass (gradcam_lowres): one
        # forward yields the logits, one backward as far as the target layer the map.
        assert x_all is not None
        sync()
        t0 = time.perf_counter()
        for i in range(0, n, args.batch_size):
            _maps, logits = gradcam_lowres(member.model, x_all[i : i + args.batch_size], layer, None)
            logits.argmax(1).tolist()
        sync()
        return n / (time.perf_counter() - t0)

    def _requeue(pks: list[int]) -> None:
        # Fresh rows again, outside the timing: queued, no result, no files.
        Prediction.objects.filter(pk__in=pks).update(
            status=Prediction.Status.QUEUED, saliency_raw="", saliency_geometry=None, timings={}
        )
        for pk in pks:
            folder = f"predictions/{pk}"
            if default_storage.exists(folder):
                for name in default_storage.listdir(folder)[1]:
                    default_storage.delete(f"{folder}/{name}")

    def pipeline_run() -> float:
        # The platform's worker path end to end, in a warm worker (model loaded and run once).
        _requeue(ids)
        t0 = time.perf_counter()
        done = predictions_run(prediction_ids=ids)
        rate = done / (time.perf_counter() - t0)
        assert done == n, f"pipeline finished {done} of {n}"
        return rate

    def naive_worker() -> float:
        # One task per image that loads the model each time: the platform's own code for a
        # single prediction with the model cache emptied first, so it does the same work.
        naive_ids = ids[:k]
        _requeue(naive_ids)
        t0 = time.perf_counter()
        for pid in naive_ids:
            scoring._predictors.clear()
            predictions_run(prediction_ids=[pid])
        rate = k / (time.perf_counter() - t0)
        scoring._predictors.clear()
        scoring.predictor_for([version]).predict_batch([serving_array(images[0], spec)])  # warm again
        return rate

    rows = {
        "decode ceiling": decode_ceiling,
        "bare forward": bare_forward,
        "bare forward+CAM": bare_forward_cam,
        "pipeline": pipeline_run,
        "naive worker": naive_worker,
    }
    # Warm-up, not timed: every path once (allocations, oneDNN primitives, the worker's model).
    decode_ceiling()
    assert x_all is not None  # set by decode_ceiling
    with torch.inference_mode():
        member.model(x_all[: args.batch_size])
    gradcam_lowres(member.model, x_all[: args.batch_size], layer, None)
    scoring._predictors.clear()
    scoring.predictor_for([version]).predict_batch([serving_array(images[0], spec)])
    per_round: dict[str, list[float]] = {name: [] for name in rows}
    for r in range(args.rounds):
        for name, row in rows.items():
            per_round[name].append(row())
        print(
            f"round {r + 1}/{args.rounds}: "
            + ", ".join(f"{name} {v[-1]:.1f}" for name, v in per_round.items())
            + f"  (pipeline/ceiling {per_round['pipeline'][-1] / per_round['bare forward+CAM'][-1]:.2f}x,"
            f" pipeline/naive {per_round['pipeline'][-1] / per_round['naive worker'][-1]:.1f}x)",
            flush=True,
        )
    results = {name: statistics.median(v) for name, v in per_round.items()}
    stage_ms: dict[str, float] = {}
    for timings in Prediction.objects.filter(pk__in=ids[k:] or ids).values_list("timings", flat=True):
        for stage, ms in timings.items():
            if ms is not None and stage != "queue_wait_ms":
                stage_ms[stage] = stage_ms.get(stage, 0.0) + ms / len(ids[k:] or ids)

    ceiling = results["bare forward+CAM"]
    binding = "decode" if results["decode ceiling"] < ceiling else "model"
    bound = min(results["decode ceiling"], ceiling)
    cpu = platform.processor() or platform.machine()
    print(
        f"\nOncoPortal inference benchmark: {n} real brain MRI images, {card.arch} at {spec.input_size} px, "
        f"batch {args.batch_size}, median of {args.rounds} interleaved rounds, device {device} ({torch.get_num_threads()} threads, {os.cpu_count()} cores, {cpu})"
    )
    print(f"{'':22}{'images/s':>10}")
    for name, value in results.items():
        print(f"{name:22}{value:10.1f}")
    print(f"\npipeline / bare forward+CAM  {results['pipeline'] / ceiling:5.2f}x")
    print(f"pipeline / decode ceiling    {results['pipeline'] / results['decode ceiling']:5.2f}x")
    print(
        f"pipeline / min(ceilings)     {results['pipeline'] / bound:5.2f}x   ({binding} binds; goal >= 0.8)"
    )
    print(
        f"pipeline / naive worker      {results['pipeline'] / results['naive worker']:5.1f}x   (goal >= 10)"
    )
    # The same ratios taken within each round (its rows ran back to back), then the median.
    paired = {
        "pipeline / bare forward+CAM": statistics.median(
            p / c for p, c in zip(per_round["pipeline"], per_round["bare forward+CAM"], strict=True)
        ),
        "pipeline / naive worker": statistics.median(
            p / q for p, q in zip(per_round["pipeline"], per_round["naive worker"], strict=True)
        ),
    }
    print("median of the per-round ratios: " + ", ".join(f"{k} {v:.2f}x" for k, v in paired.items()))
    print("pipeline stage means (ms/image): " + ", ".join(f"{k[:-3]} {v:.1f}" for k, v in stage_ms.items()))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "images": n,
                    "arch": card.arch,
                    "input_size": spec.input_size,
                    "batch_size": args.batch_size,
                    "device": str(device),
                    "images_per_s": results,
                    "rounds": per_round,
                    "stage_ms": stage_ms,
                    "pipeline_over_ceiling": results["pipeline"] / bound,
                    "binding": binding,
                    "pipeline_over_naive": results["pipeline"] / results["naive worker"],
                    "per_round_ratio_medians": paired,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
