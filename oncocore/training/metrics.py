"""Classification and calibration metrics in plain numpy (no scikit-learn).

All functions take class indices ``targets`` (N,) and either probabilities
(N, K) or logits (N, K).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of (N, K) logits divided by ``temperature``, float64."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)  # stability
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(probs: np.ndarray, targets: np.ndarray) -> float:
    """Mean negative log-likelihood of the true class."""
    p = probs[np.arange(len(targets)), targets]
    return float(-np.log(np.clip(p, 1e-12, 1.0)).mean())


def confusion_matrix(targets: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) int64 counts; rows are true classes, columns predictions."""
    return np.bincount(targets * num_classes + preds, minlength=num_classes**2).reshape(
        num_classes, num_classes
    )


def roc_curve(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest ROC: (fpr, tpr), both starting at 0 and ending at 1.

    Tied scores are handled by taking only the last point of each tie run.
    """
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], positive[order].astype(np.float64)
    last_of_run = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp, fp = np.cumsum(y)[last_of_run], np.cumsum(1 - y)[last_of_run]
    tpr = np.r_[0.0, tp / max(tp[-1], 1e-12)]
    fpr = np.r_[0.0, fp / max(fp[-1], 1e-12)]
    return fpr, tpr


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """Area under the one-vs-rest ROC, or None if only one class is present."""
    if positive.all() or not positive.any():
        return None
    fpr, tpr = roc_curve(scores, positive)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))  # trapezoid rule


def reliability_bins(probs: np.ndarray, targets: np.ndarray, n_bins: int = 15) -> dict[str, np.ndarray]:
    """Equal-width confidence bins: per-bin count, mean confidence, accuracy."""
    conf, pred = probs.max(axis=1), probs.argmax(axis=1)
    correct = (pred == targets).astype(np.float64)
    idx = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    count = np.bincount(idx, minlength=n_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(idx, weights=conf, minlength=n_bins) / count
        acc = np.bincount(idx, weights=correct, minlength=n_bins) / count
    return {
        "count": count,
        "confidence": mean_conf,
        "accuracy": acc,
        "edges": np.linspace(0.0, 1.0, n_bins + 1),
    }


def expected_calibration_error(probs: np.ndarray, targets: np.ndarray, n_bins: int = 15) -> float:
    """ECE: count-weighted mean |accuracy - confidence| over confidence bins."""
    b = reliability_bins(probs, targets, n_bins)
    used = b["count"] > 0
    return float(
        np.sum(b["count"][used] * np.abs(b["accuracy"][used] - b["confidence"][used])) / len(targets)
    )


def fit_temperature(logits: np.ndarray, targets: np.ndarray, *, lo: float = 0.05, hi: float = 20.0) -> float:
    """Temperature T minimising validation NLL of softmax(logits / T).

    NLL is convex in beta = 1/T, so a golden-section search over beta in
    [1/hi, 1/lo] finds the optimum without gradients.
    """
    logits, targets = np.asarray(logits, np.float64), np.asarray(targets)
    f = lambda beta: nll(softmax(logits * beta), targets)  # noqa: E731
    a, b = 1.0 / hi, 1.0 / lo
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = f(d)
    return float(1.0 / ((a + b) / 2))


def classification_metrics(
    probs: np.ndarray, targets: np.ndarray, class_names: Sequence[str], n_bins: int = 15
) -> dict[str, Any]:
    """Everything the report needs, as a JSON-serialisable dict.

    Returns:
        accuracy, balanced_accuracy, macro_precision/recall/f1, macro_auc,
        nll, ece, n, confusion_matrix (list of lists), per_class (name ->
        precision, recall, f1, support, auc). Undefined values are None.
    """
    probs, targets = np.asarray(probs, np.float64), np.asarray(targets, np.int64)
    k = len(class_names)
    preds = probs.argmax(axis=1)
    cm = confusion_matrix(targets, preds, k)
    tp = np.diag(cm).astype(np.float64)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    aucs = [roc_auc(probs[:, i], targets == i) for i in range(k)]
    present = support > 0
    valid_aucs = [a for a in aucs if a is not None]
    per_class = {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
            "auc": aucs[i],
        }
        for i, name in enumerate(class_names)
    }
    return {
        "n": len(targets),
        "accuracy": float((preds == targets).mean()) if len(targets) else 0.0,
        "balanced_accuracy": float(recall[present].mean()) if present.any() else 0.0,
        "macro_precision": float(precision[present].mean()) if present.any() else 0.0,
        "macro_recall": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "macro_auc": float(np.mean(valid_aucs)) if valid_aucs else None,
        "nll": nll(probs, targets) if len(targets) else None,
        "ece": expected_calibration_error(probs, targets, n_bins) if len(targets) else None,
        "confusion_matrix": cm.tolist(),
        "per_class": per_class,
    }
