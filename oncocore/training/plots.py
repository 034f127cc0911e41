"""Report figures rendered with matplotlib's Agg canvas.

``Figure`` + ``FigureCanvasAgg`` are used directly instead of pyplot, so
plotting neither needs a display nor changes the process-wide backend.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .metrics import reliability_bins, roc_auc, roc_curve

PathLike = str | Path


def _save(fig: Figure, path: PathLike) -> Path:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(str(path), dpi=120)
    return Path(path)


def plot_confusion(cm: np.ndarray, class_names: Sequence[str], path: PathLike) -> Path:
    """Row-normalised confusion matrix with raw counts in each cell."""
    cm = np.asarray(cm, dtype=np.float64)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    k = len(class_names)
    fig = Figure(figsize=(1.2 * k + 2.5, 1.1 * k + 2))
    ax = fig.add_subplot()
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of true class")
    ax.set_xticks(range(k), class_names, rotation=35, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                f"{int(cm[i, j])}\n{norm[i, j]:.2f}",
                ha="center",
                va="center",
                color="white" if norm[i, j] > 0.5 else "black",
                fontsize=8,
            )
    return _save(fig, path)


def plot_roc(probs: np.ndarray, targets: np.ndarray, class_names: Sequence[str], path: PathLike) -> Path:
    """One-vs-rest ROC curve per class (classes absent from targets skipped)."""
    fig = Figure(figsize=(5.5, 5))
    ax = fig.add_subplot()
    for i, name in enumerate(class_names):
        positive = targets == i
        auc = roc_auc(probs[:, i], positive)
        if auc is None:
            continue
        fpr, tpr = roc_curve(probs[:, i], positive)
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def plot_reliability(
    probs_before: np.ndarray,
    probs_after: np.ndarray,
    targets: np.ndarray,
    temperature: float,
    path: PathLike,
    n_bins: int = 15,
) -> Path:
    """Reliability diagrams before and after temperature scaling."""
    fig = Figure(figsize=(10, 4.5))
    for col, (probs, title) in enumerate(
        ((probs_before, "uncalibrated"), (probs_after, f"temperature {temperature:.2f}"))
    ):
        ax = fig.add_subplot(1, 2, col + 1)
        b = reliability_bins(probs, targets, n_bins)
        centers = (b["edges"][:-1] + b["edges"][1:]) / 2
        used = b["count"] > 0
        ax.bar(
            centers[used], b["accuracy"][used], width=1 / n_bins, edgecolor="k", alpha=0.7, label="accuracy"
        )
        ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="perfect calibration")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
        ax.set_title(title)
        ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)


def plot_training_curves(log_path: PathLike, path: PathLike) -> Path:
    """Loss, validation macro-F1/accuracy and learning rate per epoch from the JSON-lines log."""
    rows = read_log(log_path)
    epochs = [r["epoch"] for r in rows]
    fig = Figure(figsize=(12, 3.8))
    ax = fig.add_subplot(1, 3, 1)
    ax.plot(epochs, [r.get("train_loss", np.nan) for r in rows], label="train")
    ax.plot(epochs, [r.get("val_loss", np.nan) for r in rows], label="validation")
    ax.set_title("loss")
    ax.legend()
    ax = fig.add_subplot(1, 3, 2)
    ax.plot(epochs, [r.get("val_macro_f1", np.nan) for r in rows], label="val macro-F1")
    ax.plot(epochs, [r.get("val_accuracy", np.nan) for r in rows], label="val accuracy")
    ax.set_ylim(0, 1)
    ax.set_title("validation")
    ax.legend()
    ax = fig.add_subplot(1, 3, 3)
    ax.plot(epochs, [r.get("lr", np.nan) for r in rows])
    ax.set_title("learning rate (end of epoch)")
    for a in fig.axes:
        a.set_xlabel("epoch")
    return _save(fig, path)


def read_log(log_path: PathLike) -> list[dict]:
    return [json.loads(line) for line in Path(log_path).read_text().splitlines() if line.strip()]


def plot_pretraining_curves(log_path: PathLike, path: PathLike) -> Path:
    """Per-task training loss and held-out accuracy per epoch of a multi-task pre-training log."""
    rows = read_log(log_path)
    tasks = sorted(k[: -len("_train_loss")] for k in rows[0] if k.endswith("_train_loss"))
    epochs = [r["epoch"] for r in rows]
    fig = Figure(figsize=(9, 3.8))
    loss, acc = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for task in tasks:
        loss.plot(epochs, [r.get(f"{task}_train_loss", np.nan) for r in rows], label=task)
        acc.plot(epochs, [r.get(f"{task}_val_accuracy", np.nan) for r in rows], label=task)
    loss.set_title("training loss per task")
    acc.set_title("held-out accuracy per task head (log only)")
    acc.set_ylim(0, 1)
    for a in fig.axes:
        a.set_xlabel("epoch")
        a.legend()
    return _save(fig, path)


def plot_run_comparison(runs: dict[str, PathLike], path: PathLike, metric: str = "val_macro_f1") -> Path:
    """One validation curve per training run (label -> ``log.jsonl``), for side-by-side recipes."""
    fig = Figure(figsize=(6.5, 4))
    ax = fig.add_subplot()
    for label, log_path in runs.items():
        rows = read_log(log_path)
        ax.plot([r["epoch"] for r in rows], [r.get(metric, np.nan) for r in rows], label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_ylim(0, 1)
    ax.legend()
    return _save(fig, path)
