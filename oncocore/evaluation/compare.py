"""A candidate and the champion on the same images: each side's metrics and McNemar's paired test.

The stored ``results`` of an evaluation (the promote gate reads it)::

    {"class_names": [...], "n": int, "split": "test",
     "sides": {"candidate": {"label": "name@ver", "metrics": M},
               "champion":  {"label": "name@ver + ...", "metrics": M}},   # absent without champion
     "paired": {"test": "mcnemar", "b": int, "c": int, "statistic": float | None,
                "p_value": float, "exact": bool,
                "b_means": "champion right, candidate wrong"},          # absent without champion
     "items": [{"image_id": int, "target": "cls", "candidate": [probs], "champion": [probs]}]}

``M`` is :func:`oncocore.training.metrics.classification_metrics` plus
``per_class[cls]["sensitivity"]`` and ``["specificity"]``. A prediction is
the argmax of the probabilities, also for an image the model's suitability
check calls out of scope (it still counts; the service records how many).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from oncocore.stats import McNemar, mcnemar_from_correct, sensitivity_specificity
from oncocore.training.metrics import classification_metrics

CANDIDATE = "candidate"
CHAMPION = "champion"
SIDES = (CANDIDATE, CHAMPION)
B_MEANS = "champion right, candidate wrong"
C_MEANS = "candidate right, champion wrong"
#: The significance level the page and the command state the paired test's verdict at.
ALPHA = 0.05


def side_metrics(probs: np.ndarray, targets: np.ndarray, class_names: Sequence[str]) -> dict[str, Any]:
    """``classification_metrics`` with each class's one-vs-rest sensitivity and specificity added.

    Args:
        probs: (N, K) probabilities, columns in ``class_names`` order.
        targets: (N,) class indices.
        class_names: The K classes.
    """
    metrics = classification_metrics(probs, targets, class_names)
    for name, (sens, spec) in zip(
        class_names, sensitivity_specificity(metrics["confusion_matrix"]), strict=True
    ):
        metrics["per_class"][name]["sensitivity"] = sens
        metrics["per_class"][name]["specificity"] = spec
    return metrics


def paired_test(probs_champion: np.ndarray, probs_candidate: np.ndarray, targets: np.ndarray) -> McNemar:
    """McNemar's test on per-image correctness; b = champion right and candidate wrong, c = the reverse."""
    targets = np.asarray(targets, dtype=np.int64)
    champion_right = np.asarray(probs_champion).argmax(axis=1) == targets
    candidate_right = np.asarray(probs_candidate).argmax(axis=1) == targets
    return mcnemar_from_correct(champion_right.tolist(), candidate_right.tolist())


def compare_results(
    *,
    class_names: Sequence[str],
    image_ids: Sequence[int],
    targets: Sequence[str],
    candidate_probs: np.ndarray,
    candidate_label: str,
    champion_probs: np.ndarray | None = None,
    champion_label: str = "",
    split: str = "test",
) -> dict[str, Any]:
    """The evaluation's ``results`` (module docstring): both sides' metrics, the paired test, the items.

    Args:
        class_names: The K classes, the columns of both probability arrays.
        image_ids: The N images, in row order.
        targets: Each image's true class name.
        candidate_probs: (N, K) candidate probabilities.
        candidate_label: "name@version" of the candidate.
        champion_probs: (N, K) champion probabilities, or None when there is no champion.
        champion_label: The champion ensemble's members, e.g. "a@1 + b@2".
        split: The snapshot split scored.

    Raises:
        ValueError: Shapes that do not match, no images, or a target that is not one of the classes.
    """
    names = list(class_names)
    index = {name: i for i, name in enumerate(names)}
    unknown = sorted({t for t in targets if t not in index})
    if unknown:
        raise ValueError(f"targets {unknown} are not among the classes {names}")
    n, k = len(image_ids), len(names)
    if n == 0:
        raise ValueError("no images to compare on")
    if len(targets) != n:
        raise ValueError("one target per image")
    y = np.array([index[t] for t in targets], dtype=np.int64)
    probs = {CANDIDATE: np.asarray(candidate_probs, dtype=np.float64)}
    if champion_probs is not None:
        probs[CHAMPION] = np.asarray(champion_probs, dtype=np.float64)
    for side, p in probs.items():
        if p.shape != (n, k):
            raise ValueError(f"{side} probabilities have shape {p.shape}; expected {(n, k)}")
    labels = {CANDIDATE: candidate_label, CHAMPION: champion_label}
    results: dict[str, Any] = {
        "class_names": names,
        "n": n,
        "split": split,
        "sides": {
            side: {"label": labels[side], "metrics": side_metrics(p, y, names)} for side, p in probs.items()
        },
    }
    if CHAMPION in probs:
        results["paired"] = {
            **paired_test(probs[CHAMPION], probs[CANDIDATE], y).to_dict(),
            "b_means": B_MEANS,
        }
    results["items"] = [
        {
            "image_id": int(image_id),
            "target": target,
            **{side: [float(v) for v in p[row]] for side, p in probs.items()},
        }
        for row, (image_id, target) in enumerate(zip(image_ids, targets, strict=True))
    ]
    return results


def paired_verdict(paired: dict[str, Any] | None, *, alpha: float = ALPHA) -> str:
    """The paired test in words, e.g. "The difference is not significant at p<0.05: b=3 vs c=5 (p=0.727, exact)"."""
    if not paired:
        return "No paired test: there was no champion to compare against."
    b, c, p = paired["b"], paired["c"], paired["p_value"]
    significant = p < alpha
    who = ""
    if significant:
        who = " (the candidate is right more often)" if c > b else " (the champion is right more often)"
    how = "exact binomial" if paired.get("exact") else "chi-square with continuity correction"
    return (
        f"The difference is {'' if significant else 'not '}significant at p<{alpha:g}{who}: "
        f"b={b} ({B_MEANS}) vs c={c} ({C_MEANS}), p={p:.3g}, {how}."
    )


def results_arrays(results: dict[str, Any]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The stored items back as arrays: targets (N,) and each side's (N, K) probabilities."""
    index = {name: i for i, name in enumerate(results["class_names"])}
    items = results.get("items", [])
    targets = np.array([index[item["target"]] for item in items], dtype=np.int64)
    probs = {
        side: np.array([item[side] for item in items], dtype=np.float64).reshape(len(items), len(index))
        for side in SIDES
        if side in results.get("sides", {})
    }
    return targets, probs


#: The page's and the command's rows: (key, label, higher is better).
SUMMARY_METRICS = (
    ("accuracy", "Accuracy", True),
    ("macro_f1", "Macro-F1", True),
    ("balanced_accuracy", "Balanced accuracy", True),
    ("macro_auc", "AUC (macro, one-vs-rest)", True),
    ("ece", "ECE (expected calibration error)", False),
)


def _row(label: str, champion: float | None, candidate: float | None, higher_better: bool) -> dict[str, Any]:
    delta = None if champion is None or candidate is None else candidate - champion
    better = ""
    if delta is not None and abs(delta) > 1e-12:
        better = CANDIDATE if (delta > 0) == higher_better else CHAMPION
    return {"label": label, "champion": champion, "candidate": candidate, "delta": delta, "better": better}


def comparison_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The side-by-side table: summary metrics, then each class's sensitivity and specificity.

    Each row: label, champion, candidate (None when absent or undefined),
    delta (candidate minus champion) and better ("candidate", "champion" or "").
    """
    sides = results.get("sides", {})
    metrics = {side: sides[side]["metrics"] for side in SIDES if side in sides}

    def value(side: str, *path: str) -> float | None:
        node: Any = metrics.get(side)
        for key in path:
            if node is None:
                return None
            node = node.get(key)
        return None if node is None else float(node)

    rows = [
        _row(label, value(CHAMPION, key), value(CANDIDATE, key), up) for key, label, up in SUMMARY_METRICS
    ]
    for name in results.get("class_names", []):
        for key in ("sensitivity", "specificity"):
            rows.append(
                _row(
                    f"{name}: {key}",
                    value(CHAMPION, "per_class", name, key),
                    value(CANDIDATE, "per_class", name, key),
                    True,
                )
            )
    return rows
