"""Evaluation report: metrics, temperature calibration, plots, JSON and Markdown.

Also runnable to evaluate an exported bundle on the group-split validation
set of a data folder (no Django needed)::

    python -m oncocore.training.evaluate --bundle var/models/brain-v1 \\
        --data-dir ../shared/data/brain_mri --task brain_mri --out-dir report/
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..preprocessing import PreprocessSpec, normalize_uint8
from .metrics import classification_metrics, expected_calibration_error, fit_temperature, softmax
from .plots import plot_confusion, plot_reliability, plot_roc, plot_training_curves

PathLike = str | Path


@torch.inference_mode()
def predict_logits(
    model: nn.Module, loader: Any, spec: PreprocessSpec, device: torch.device, amp: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``model`` over a loader of (uint8 (B, C, S, S), int64 (B,)) batches.

    Uses exactly the serving normalisation (no augmentation).

    Returns:
        (logits float64 (N, K), targets int64 (N,)).
    """
    model.eval()
    ctx = torch.autocast(device_type=device.type, dtype=torch.bfloat16) if amp else contextlib.nullcontext()
    logits, targets = [], []
    for x8, y in loader:
        with ctx:
            out = model(normalize_uint8(x8.to(device), spec))  # (B, K)
        logits.append(out.float().cpu())
        targets.append(y.cpu())
    if not logits:
        raise ValueError("evaluation loader yielded no batches")
    return torch.cat(logits).double().numpy(), torch.cat(targets).numpy()


def build_report(
    logits: np.ndarray,
    targets: np.ndarray,
    class_names: Sequence[str],
    *,
    temperature: float | None = None,
    out_dir: PathLike | None = None,
    log_path: PathLike | None = None,
    title: str = "Evaluation",
) -> dict[str, Any]:
    """Metrics before/after temperature scaling, optionally written to ``out_dir``.

    Args:
        logits: (N, K) validation logits.
        targets: (N,) class indices.
        class_names: Names in logit order.
        temperature: Use this temperature; None fits one by NLL on these data.
        out_dir: If set, writes report.json, report.md, confusion_matrix.png,
            roc.png, reliability.png (and training_curves.png with ``log_path``).
        log_path: Training JSON-lines log for the curves figure.
        title: Heading of the Markdown report.

    Returns:
        ``{"title", "temperature", "uncalibrated", "calibrated", "files"}`` where
        the two metric dicts come from ``classification_metrics``.
    """
    t = fit_temperature(logits, targets) if temperature is None else float(temperature)
    p0, p1 = softmax(logits), softmax(logits, t)
    report: dict[str, Any] = {
        "title": title,
        "temperature": t,
        "temperature_fitted_on": "these data" if temperature is None else "given",
        "uncalibrated": classification_metrics(p0, targets, class_names),
        "calibrated": classification_metrics(p1, targets, class_names),
        "files": {},
    }
    if temperature is None:
        report["ece_cross_fitted"] = cross_fitted_ece(logits, targets)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        files = {
            "confusion_matrix": plot_confusion(
                np.array(report["calibrated"]["confusion_matrix"]), class_names, out / "confusion_matrix.png"
            ),
            "roc": plot_roc(p1, targets, class_names, out / "roc.png"),
            "reliability": plot_reliability(p0, p1, targets, t, out / "reliability.png"),
        }
        if log_path is not None and Path(log_path).is_file():
            files["training_curves"] = plot_training_curves(log_path, out / "training_curves.png")
        report["files"] = {k: v.name for k, v in files.items()}
        (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        (out / "report.md").write_text(to_markdown(report, class_names))
    return report


def cross_fitted_ece(logits: np.ndarray, targets: np.ndarray, folds: int = 2) -> float | None:
    """ECE after temperature scaling, each image scored with a temperature fitted on the other images.

    The calibrated ECE of a report is measured on the images its temperature was
    fitted on, which flatters it; here the images are dealt into ``folds`` folds
    (by position, every ``folds``-th image) and each fold's probabilities use the
    temperature fitted on the rest. None with fewer than 2 images a fold.
    """
    logits, targets = np.asarray(logits, np.float64), np.asarray(targets)
    if len(targets) < 2 * folds:
        return None
    probs = np.empty_like(logits)
    index = np.arange(len(targets))
    for k in range(folds):
        held = index % folds == k
        probs[held] = softmax(logits[held], fit_temperature(logits[~held], targets[~held]))
    return expected_calibration_error(probs, targets)


def _fmt(v: Any) -> str:
    return "n/a" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def to_markdown(report: dict[str, Any], class_names: Sequence[str]) -> str:
    """Human-readable Markdown version of a :func:`build_report` result."""
    u, c = report["uncalibrated"], report["calibrated"]
    lines = [
        f"# {report['title']}",
        "",
        f"Validation images: {c['n']}. Temperature: {report['temperature']:.3f} "
        f"(fitted on {report['temperature_fitted_on']}; calibrated figures measured on the same "
        "images are optimistic"
        + (
            f"; cross-fitted ECE, each half scored with the other half's temperature: "
            f"{_fmt(report['ece_cross_fitted'])}"
            if report.get("ece_cross_fitted") is not None
            else ""
        )
        + ").",
        "",
        "| metric | uncalibrated | calibrated |",
        "|---|---|---|",
    ]
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "macro_auc", "nll", "ece"):
        lines.append(f"| {key} | {_fmt(u[key])} | {_fmt(c[key])} |")
    lines += ["", "| class | precision | recall | F1 | AUC | support |", "|---|---|---|---|---|---|"]
    for name in class_names:
        m = c["per_class"][name]
        lines.append(
            f"| {name} | {_fmt(m['precision'])} | {_fmt(m['recall'])} | {_fmt(m['f1'])} | "
            f"{_fmt(m['auc'])} | {m['support']} |"
        )
    lines += [
        "",
        "Confusion matrix (rows: true, columns: predicted):",
        "",
        "| true \\ pred | " + " | ".join(class_names) + " |",
        "|---" * (len(class_names) + 1) + "|",
    ]
    for name, row in zip(class_names, c["confusion_matrix"], strict=True):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    lines += [""] + [f"![{k}]({v})" for k, v in report.get("files", {}).items()]
    return "\n".join(lines) + "\n"


def get_args_parser() -> argparse.ArgumentParser:
    """CLI options for evaluating a bundle on a data folder's validation split."""
    p = argparse.ArgumentParser(description="Evaluate a model bundle on the group-split validation set.")
    p.add_argument("--bundle", required=True, help="bundle folder (model.json + weights.safetensors)")
    p.add_argument("--data-dir", required=True, help="data folder holding MANIFEST.tsv")
    p.add_argument("--task", required=True, help="dataset key: brain_mri, lung_ct or histo_lung")
    p.add_argument("--val-fraction", type=float, default=0.2, help="must match training")
    p.add_argument("--seed", type=int, default=0, help="split seed; must match training")
    p.add_argument("--out-dir", required=True, help="where report files go")
    p.add_argument("--device", default=None, help="cuda, mps or cpu (default: best available)")
    p.add_argument("--batch-size", type=int, default=64, help="evaluation batch size")
    return p


def main(args: argparse.Namespace) -> dict[str, Any]:
    """Evaluate ``args.bundle`` with the temperature stored in its card."""
    from ..predictor import select_device
    from ..registry import load_model
    from .data import GROUP_COLUMNS, BatchLoader, CachedImageDataset, group_split, read_manifest

    device = select_device(args.device)
    model, card = load_model(args.bundle, device)
    rows = read_manifest(args.data_dir)
    _, val = group_split(rows, GROUP_COLUMNS[args.task], args.val_fraction, args.seed)
    ds = CachedImageDataset(val, card.preprocessing, card.class_names)
    logits, targets = predict_logits(
        model,
        BatchLoader(ds, args.batch_size, device=device),
        card.preprocessing,
        device,
        amp=device.type == "cuda",
    )
    return build_report(
        logits,
        targets,
        card.class_names,
        temperature=card.temperature,
        out_dir=args.out_dir,
        title=f"{card.name}@{card.version} on {args.task} validation",
    )


if __name__ == "__main__":
    print(json.dumps(main(get_args_parser().parse_args())["calibrated"], indent=2))
