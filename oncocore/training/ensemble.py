"""Does an ensemble beat its best member? Measured on the members' common validation split.

    python -m oncocore.training.ensemble inference/bundles/lung_ct-cpu var/exp/lung-seed1/bundle \\
        [--weights 1 1] [--data-root ../shared/data] [--out-dir docs/models/ensembles/lung_ct]

Every member must be a bundle of the same task and class list, evaluated on
the same group-held-out validation split (same data folder, manifest, group
column, fraction and split seed: checked on the cards). Each member runs
with its own preprocessing and its card's temperature; the ensemble is the
weighted mean of the members' calibrated probabilities, exactly what the
platform serves when several versions of a task are active
(:class:`oncocore.predictor.Predictor`).

The table gives each member and the ensemble: accuracy, macro-F1, ECE (15
bins), the recall of every class, and how many images the ensemble fixed /
broke against the best member (paired: with a few hundred images one image
is 0.2-0.6 points). The verdict says whether the ensemble beats the best
member: higher accuracy, macro-F1 not lower, and for lung CT malignant
recall not lower. Members picked their best epoch on these same images, so
every figure, the ensemble's included, is optimistic for new data.

``--out-dir`` writes ``ensemble.json``, ``ensemble.md`` and the ensemble's
confusion matrix, ROC and reliability plots (``report.*``). Django-free.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..predictor import select_device
from ..registry import load_model
from .data import BatchLoader, CachedImageDataset, card_validation_rows
from .evaluate import build_report, predict_logits
from .metrics import classification_metrics, expected_calibration_error, fit_temperature, nll, softmax

__all__ = ["evaluate_ensemble", "main", "to_markdown"]

#: Class whose recall must not drop, per card task.
KEY_CLASS = {"lung_ct": "malignant"}
#: Card fields that must agree for two members to share one validation split.
SPLIT_FIELDS = ("dataset", "manifest_sha256", "group_column", "val_fraction", "split_seed", "n_val")


def _label(card: Any) -> str:
    return f"{card.name}@{card.version}"


def _check_members(cards: Sequence[Any]) -> None:
    first = cards[0]
    for card in cards[1:]:
        if card.task != first.task or list(card.class_names) != list(first.class_names):
            raise ValueError(f"{_label(card)} is a {card.task} model of other classes than {_label(first)}")
        for field in SPLIT_FIELDS:
            a, b = first.training_data.get(field), card.training_data.get(field)
            if a != b:
                raise ValueError(
                    f"{_label(card)} was validated on another split than {_label(first)} ({field}: {b} vs {a})"
                )


def evaluate_ensemble(
    bundles: Sequence[str | Path],
    data_root: str | Path,
    weights: Sequence[float] | None = None,
    device: str | None = None,
    batch_size: int = 64,
    out_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Score each member and their weighted ensemble on the common validation split.

    Returns:
        ``{"task", "dataset", "n", "members": [...], "ensemble": {...}, "verdict": {...}}``;
        each entry holds ``label``, ``weight`` (members) and the metrics of
        :func:`oncocore.training.metrics.classification_metrics`.

    Raises:
        ValueError: Fewer than two bundles, weights that do not fit, members
            of different tasks, classes or validation splits.
    """
    if len(bundles) < 2:
        raise ValueError("an ensemble needs at least two bundles")
    w = np.ones(len(bundles)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(bundles),) or not np.all(w > 0):
        raise ValueError(f"give one positive weight per bundle ({len(bundles)}), got {list(w)}")
    w = w / w.sum()
    dev = select_device(device)
    loaded = [load_model(b, dev) for b in bundles]
    cards = [card for _, card in loaded]
    _check_members(cards)
    dataset, val = card_validation_rows(cards[0], data_root)
    classes = list(cards[0].class_names)

    probs, targets = [], None
    caches: dict[Any, CachedImageDataset] = {}
    for model, card in loaded:
        spec = card.preprocessing
        key = json.dumps(spec.to_dict(), sort_keys=True)
        if key not in caches:  # members with one preprocessing share the decoded images
            caches[key] = CachedImageDataset(val, spec, classes)
        logits, y = predict_logits(model, BatchLoader(caches[key], batch_size, device=dev), spec, dev)
        probs.append(softmax(logits, card.temperature or 1.0))
        targets = y
    assert targets is not None
    mean = np.tensordot(w, np.stack(probs), axes=1)  # (N, K)

    members = [
        {"label": _label(c), "weight": float(wi), **classification_metrics(p, targets, classes)}
        for c, p, wi in zip(cards, probs, w, strict=True)
    ]
    best_i = max(range(len(members)), key=lambda i: (members[i]["accuracy"], members[i]["macro_f1"]))
    ens = classification_metrics(mean, targets, classes)
    # Would one more temperature on the ensemble (softmax(log mean / T)) calibrate it
    # better? Fitted by NLL on these images, like the members'; reported, not served.
    log_mean = np.log(np.clip(mean, 1e-12, 1.0))
    t_ens = fit_temperature(log_mean, targets)
    rescaled = softmax(log_mean, t_ens)
    temperature = {
        "temperature": t_ens,
        "nll": [nll(mean, targets), nll(rescaled, targets)],
        "ece": [expected_calibration_error(mean, targets), expected_calibration_error(rescaled, targets)],
    }
    best_ok = probs[best_i].argmax(1) == targets
    ens_ok = mean.argmax(1) == targets
    best = members[best_i]
    key_class = KEY_CLASS.get(cards[0].task)
    reasons = []
    if ens["accuracy"] <= best["accuracy"]:
        reasons.append(
            f"accuracy {ens['accuracy']:.3f} is not above the best member's {best['accuracy']:.3f}"
        )
    if ens["macro_f1"] < best["macro_f1"]:
        reasons.append(f"macro-F1 {ens['macro_f1']:.3f} is below the best member's {best['macro_f1']:.3f}")
    if key_class:
        e_rec, b_rec = ens["per_class"][key_class]["recall"], best["per_class"][key_class]["recall"]
        if e_rec < b_rec:
            reasons.append(f"{key_class} recall {e_rec:.3f} is below the best member's {b_rec:.3f}")
    result: dict[str, Any] = {
        "task": cards[0].task,
        "dataset": dataset,
        "n": len(targets),
        "members": members,
        "ensemble": {"label": "ensemble", **ens},
        "ensemble_temperature": temperature,
        "verdict": {
            "best_member": best["label"],
            "beats_best_member": not reasons,
            "reasons": reasons,
            "fixed": int((ens_ok & ~best_ok).sum()),
            "broken": int((~ens_ok & best_ok).sum()),
        },
    }
    if out_dir is not None:
        out = Path(out_dir)
        # log(p) with temperature 1 makes build_report score exactly these probabilities.
        report = build_report(
            np.log(np.clip(mean, 1e-12, 1.0)),
            targets,
            classes,
            temperature=1.0,
            out_dir=out,
            title=f"Ensemble of {', '.join(m['label'] for m in members)} on {dataset} validation",
        )
        result["files"] = report["files"]
        (out / "ensemble.json").write_text(json.dumps(result, indent=2) + "\n")
        (out / "ensemble.md").write_text(to_markdown(result))
    return result


def to_markdown(result: dict[str, Any]) -> str:
    """The members-and-ensemble table with the verdict under it."""
    classes = list(result["ensemble"]["per_class"])
    head = (
        "| model | weight | accuracy | macro-F1 | ECE | " + " | ".join(f"recall {c}" for c in classes) + " |"
    )
    lines = [
        f"Ensemble on {result['dataset']} validation ({result['n']} images, group-held-out):",
        "",
        head,
        "|---" * (5 + len(classes)) + "|",
    ]
    for row in [*result["members"], result["ensemble"]]:
        weight = f"{row['weight']:.2f}" if "weight" in row else ""
        recalls = " | ".join(f"{row['per_class'][c]['recall']:.3f}" for c in classes)
        lines.append(
            f"| {row['label']} | {weight} | {row['accuracy']:.3f} | {row['macro_f1']:.3f} | "
            f"{row['ece']:.3f} | {recalls} |"
        )
    t = result["ensemble_temperature"]
    v = result["verdict"]
    lines += [
        "",
        f"One more temperature on the ensemble (fitted by NLL on these images): T = {t['temperature']:.3f}, "
        f"NLL {t['nll'][0]:.3f} -> {t['nll'][1]:.3f}, ECE {t['ece'][0]:.3f} -> {t['ece'][1]:.3f} "
        "(measured only; the platform serves the plain weighted mean).",
        "",
        f"Against the best member ({v['best_member']}): the ensemble fixed {v['fixed']} and broke "
        f"{v['broken']} images.",
        "Verdict: "
        + (
            "the ensemble beats the best member." if v["beats_best_member"] else "; ".join(v["reasons"]) + "."
        ),
    ]
    return "\n".join(lines) + "\n"


def get_args_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description="Evaluate an ensemble of bundles against its best member.")
    p.add_argument(
        "bundles", nargs="+", help="bundle folders (model.json + weights.safetensors), two or more"
    )
    p.add_argument(
        "--weights", type=float, nargs="+", default=None, help="one weight per bundle (default equal)"
    )
    p.add_argument("--data-root", default="../shared/data", help="folder holding the data folders")
    p.add_argument(
        "--out-dir", default=None, help="write ensemble.json/.md and the ensemble's report plots here"
    )
    p.add_argument("--device", default=None, help="cuda, mps or cpu (default: best available)")
    p.add_argument("--batch-size", type=int, default=64, help="evaluation batch size")
    return p


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """CLI entry: prints the Markdown table; exits 2 with one line on bad input."""
    parser = get_args_parser()
    args = parser.parse_args(argv)
    try:
        result = evaluate_ensemble(
            args.bundles, args.data_root, args.weights, args.device, args.batch_size, args.out_dir
        )
    except (ValueError, FileNotFoundError) as exc:
        parser.exit(2, f"ensemble: {exc}\n")
    print(to_markdown(result), end="")
    return result


if __name__ == "__main__":
    main()
