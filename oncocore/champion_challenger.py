"""Champion against challenger on the same images, both against the final labels: plain numpy, no Django.

A shadow run (and anything else that scores two models on the same images)
hands in three label lists of equal length: the truth (the readers' final
label), what the champion said and what the candidate said. A model that gave
no class (the image was outside its scope, or it said something outside the
task's classes) is simply wrong for that image: it gets its own "no class"
column in the confusion matrix, never a row.

Definitions (one-vs-rest per class, rows are the true classes):

- accuracy: share of images whose label equals the truth;
- macro-F1: mean F1 over the classes present in the truth (as
  ``oncocore.training.metrics.classification_metrics`` averages);
- sensitivity and specificity per class (``oncocore.stats``);
- agreement: share of images where champion and candidate give the same label,
  with Cohen's kappa;
- McNemar's test on the discordant pairs (b: only the champion right, c: only
  the candidate right).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .stats import cohen_kappa, mcnemar_from_correct, sensitivity_specificity

#: The column of a result that gave no class of the task.
NO_CLASS = "(no class)"


def label_confusion(
    truth: Sequence[str], predicted: Sequence[str], class_names: Sequence[str]
) -> tuple[np.ndarray, list[str]]:
    """Counts with true classes as rows and predictions as columns: (K, K) or (K, K+1) with a no-class column.

    Raises:
        ValueError: A true label outside ``class_names``, or lists of different lengths.
    """
    if len(truth) != len(predicted):
        raise ValueError("truth and predictions must cover the same images")
    index = {name: i for i, name in enumerate(class_names)}
    k = len(class_names)
    cm = np.zeros((k, k + 1), dtype=np.int64)
    for t, p in zip(truth, predicted, strict=True):
        if t not in index:
            raise ValueError(f"true label {t!r} is not one of the classes {', '.join(class_names)}")
        cm[index[t], index.get(p, k)] += 1
    if cm[:, k].sum() == 0:
        return cm[:, :k], list(class_names)
    return cm, [*class_names, NO_CLASS]


def side_metrics(
    truth: Sequence[str], predicted: Sequence[str], class_names: Sequence[str]
) -> dict[str, Any]:
    """One model's figures against the truth: n, accuracy, macro-F1, per-class figures, the confusion matrix."""
    cm, columns = label_confusion(truth, predicted, class_names)
    k = len(class_names)
    # Square, with an all-zero "no class" row: the truth is always a class, and a
    # no-class answer is then a miss for its true class and a true negative for the others.
    square = np.zeros((len(columns), len(columns)), dtype=np.int64)
    square[:k, :] = cm
    sens_spec = sensitivity_specificity(square)[:k]
    tp = np.diag(cm[:, :k]).astype(np.float64)
    support = cm.sum(axis=1)
    predicted_as = cm[:, :k].sum(axis=0)
    per_class: dict[str, dict[str, Any]] = {}
    f1s: list[float] = []
    for i, name in enumerate(class_names):
        precision = float(tp[i] / predicted_as[i]) if predicted_as[i] else 0.0
        recall = float(tp[i] / support[i]) if support[i] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        if support[i]:
            f1s.append(f1)
        per_class[name] = {
            "support": int(support[i]),
            "sensitivity": sens_spec[i][0],
            "specificity": sens_spec[i][1],
            "precision": precision if predicted_as[i] else None,
            "f1": f1,
        }
    n = len(truth)
    correct = int(tp.sum())
    return {
        "n": n,
        "correct": correct,
        "accuracy": correct / n if n else None,
        "macro_f1": float(np.mean(f1s)) if f1s else None,
        "no_class": int(cm[:, k].sum()) if cm.shape[1] > k else 0,
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "columns": columns,
    }


def compare(
    truth: Sequence[str],
    champion: Sequence[str],
    candidate: Sequence[str],
    class_names: Sequence[str],
) -> dict[str, Any]:
    """Both models against the truth on the same images, and against each other (JSON-ready).

    Returns:
        n, classes, champion and candidate (:func:`side_metrics`), agreement
        (share, count, kappa, and the champion-by-candidate matrix with its row
        and column names), mcnemar (``oncocore.stats.McNemar.to_dict``) and
        difference (candidate accuracy minus champion accuracy; None for no images).
    """
    if not len(truth) == len(champion) == len(candidate):
        raise ValueError("truth, champion and candidate must cover the same images")
    champ = side_metrics(truth, champion, class_names)
    cand = side_metrics(truth, candidate, class_names)
    n = len(truth)
    same = sum(1 for a, b in zip(champion, candidate, strict=True) if a == b)
    # Each model's answers as the task's classes, or "no class" for anything else.
    known = set(class_names)
    champ_labels = [a if a in known else NO_CLASS for a in champion]
    cand_labels = [b if b in known else NO_CLASS for b in candidate]
    names = [*class_names, *([NO_CLASS] if NO_CLASS in {*champ_labels, *cand_labels} else [])]
    index = {name: i for i, name in enumerate(names)}
    between = np.zeros((len(names), len(names)), dtype=np.int64)
    for a, b in zip(champ_labels, cand_labels, strict=True):
        between[index[a], index[b]] += 1
    test = mcnemar_from_correct(
        [a == t for a, t in zip(champion, truth, strict=True)],
        [b == t for b, t in zip(candidate, truth, strict=True)],
    )
    return {
        "n": n,
        "classes": list(class_names),
        "champion": champ,
        "candidate": cand,
        "agreement": {
            "same": same,
            "share": same / n if n else None,
            "kappa": cohen_kappa(champ_labels, cand_labels, names),
            "confusion_matrix": between.tolist(),
            "names": names,
        },
        "mcnemar": test.to_dict(),
        "difference": (cand["accuracy"] - champ["accuracy"]) if n else None,
    }
