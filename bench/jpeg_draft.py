"""Would decoding JPEGs at a reduced scale (libjpeg DCT scaling) be worth it? Cost and effect, side by side.

    .venv/bin/python bench/jpeg_draft.py [--timing-images 96] [--rounds 5] [--min-ratio 1.5]

Pillow's ``Image.draft(mode, size)`` lets libjpeg-turbo decode a JPEG at 1/2,
1/4 or 1/8 of its size directly from the DCT coefficients. Here the largest
reduction is taken whose short side still holds ``--min-ratio`` times the
model's input size (a 512 px slice for a 160 px model decodes at 256 px), so
the crop and the resize still shrink, never enlarge.

For each shipped single-model bundle under ``inference/bundles`` it prints:
  * decode + stage A (``load_image`` then ``prepare_uint8``), ms per image in
    one thread, full decode and reduced decode measured in interleaved rounds;
  * the effect on the model's validation predictions (the card's own
    group-held-out split of ``../shared/data``): argmax agreement, the largest
    change of a class probability, and accuracy with each decode.

The platform serves and trains with full decodes; this script only measures
whether the preprocessing definition should change (docs/performance.md).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from oncocore.predictor import Predictor  # noqa: E402
from oncocore.preprocessing import PreprocessSpec, load_image, prepare_uint8  # noqa: E402
from oncocore.registry import load_card  # noqa: E402
from oncocore.training.data import card_validation_rows  # noqa: E402


def load_image_reduced(data: bytes, spec: PreprocessSpec, min_ratio: float) -> np.ndarray:
    """``load_image`` with libjpeg's scaled decode (JPEG only; anything else as load_image does)."""
    with Image.open(io.BytesIO(data)) as opened:
        if opened.format != "JPEG":
            return load_image(data, spec)
        side = int(np.ceil(spec.input_size * min_ratio))
        w, h = opened.size
        # draft() picks the largest reduction whose size is at least the one asked for.
        ask = (side, round(side * h / w)) if w <= h else (round(side * w / h), side)
        mode = "L" if spec.channels == 1 and opened.mode in ("RGB", "YCbCr", "L") else opened.mode
        opened.draft(mode, ask)
        img = ImageOps.exif_transpose(opened).convert("L" if spec.channels == 1 else "RGB")
        return np.array(img, dtype=np.uint8)


def decoded_side(data: bytes, spec: PreprocessSpec, min_ratio: float) -> int:
    return min(load_image_reduced(data, spec, min_ratio).shape[:2])


def time_rows(rows: dict[str, Callable[[], None]], rounds: int, n: int) -> dict[str, float]:
    """ms per image of each row, median over interleaved rounds."""
    per: dict[str, list[float]] = {k: [] for k in rows}
    for _ in range(rounds):
        for name, fn in rows.items():
            t0 = time.process_time()  # CPU time of this process: less sensitive to other load
            fn()
            per[name].append((time.process_time() - t0) * 1e3 / n)
    return {k: statistics.median(v) for k, v in per.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--timing-images", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--min-ratio", type=float, default=1.5)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("ONCOPORTAL_DATA_DIR", REPO.parent / "shared" / "data")),
    )
    parser.add_argument("--bundles", nargs="*", default=["brain_mri-lite0", "lung_ct-cpu", "histology-cpu"])
    args = parser.parse_args()
    torch.set_num_threads(2)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; load average {os.getloadavg()}")
    for name in args.bundles:
        bundle = REPO / "inference" / "bundles" / name
        card = load_card(bundle)
        spec = card.preprocessing
        key, val = card_validation_rows(card, args.data_dir)
        folder = args.data_dir / key
        blobs = [(folder / r["path"]).read_bytes() for r in val]
        labels = [r["class"] for r in val]
        sides = [decoded_side(b, spec, args.min_ratio) for b in blobs[:50]]
        full_side = [min(load_image(b, spec).shape[:2]) for b in blobs[:50]]
        sample = blobs[: args.timing_images]

        def full(sample: list[bytes] = sample, spec: PreprocessSpec = spec) -> None:
            for b in sample:
                prepare_uint8(load_image(b, spec), spec)

        def reduced(sample: list[bytes] = sample, spec: PreprocessSpec = spec) -> None:
            for b in sample:
                prepare_uint8(load_image_reduced(b, spec, args.min_ratio), spec)

        def full_decode_only(sample: list[bytes] = sample, spec: PreprocessSpec = spec) -> None:
            for b in sample:
                load_image(b, spec)

        def reduced_decode_only(sample: list[bytes] = sample, spec: PreprocessSpec = spec) -> None:
            for b in sample:
                load_image_reduced(b, spec, args.min_ratio)

        full()
        reduced()  # warm
        ms = time_rows(
            {
                "decode, full": full_decode_only,
                "decode, reduced": reduced_decode_only,
                "decode + stage A, full": full,
                "decode + stage A, reduced": reduced,
            },
            args.rounds,
            len(sample),
        )
        predictor = Predictor(bundle, device="cpu", suitability=False)
        p_full = np.array(
            [
                [r.probabilities[c] for c in predictor.class_names]
                for r in predictor.predict_batch([load_image(b, spec) for b in blobs], saliency=False)
            ]
        )
        p_red = np.array(
            [
                [r.probabilities[c] for c in predictor.class_names]
                for r in predictor.predict_batch(
                    [load_image_reduced(b, spec, args.min_ratio) for b in blobs], saliency=False
                )
            ]
        )
        truth = np.array([predictor.class_names.index(c) for c in labels])
        a_full, a_red = p_full.argmax(1), p_red.argmax(1)
        print(
            f"\n{name} ({card.arch} at {spec.input_size} px, {spec.channels} ch), "
            f"{len(blobs)} validation images of {key}; short side decoded "
            f"{statistics.median(full_side):.0f} px -> {statistics.median(sides):.0f} px (median of 50)"
        )
        for row, v in ms.items():
            print(f"  {row:28} {v:6.2f} ms/image (CPU, one thread, median of {args.rounds} rounds)")
        print(
            f"  stage A+decode reduced/full: {ms['decode + stage A, reduced'] / ms['decode + stage A, full']:.2f}x"
        )
        print(
            f"  argmax agreement {np.mean(a_full == a_red) * 100:.1f}% ({int(np.sum(a_full != a_red))} differ), "
            f"max |dp| {np.abs(p_full - p_red).max():.3f}, mean |dp| {np.abs(p_full - p_red).mean():.4f}, "
            f"accuracy full {np.mean(a_full == truth) * 100:.1f}% -> reduced {np.mean(a_red == truth) * 100:.1f}%"
        )


if __name__ == "__main__":
    main()
