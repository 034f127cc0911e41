"""Mean and spread of one recipe over several seeds or folds: the figures a recipe is judged by.

    python -m oncocore.training.seed_summary var/training/lung-s0 var/training/lung-s1 var/training/lung-s2

Each run dir holds the ``report/report.json`` that ``train.py`` writes for the
weights it kept. Runs of one recipe with ``--seed k --split-seed k`` differ in
initialisation, batch order *and* which patient groups are held out, so the
spread covers both the training noise and the luck of the split. With
``--select last`` nothing was chosen on those validation images, and the mean
is the figure to expect on new images of the same sources (the held-out
figures have so far come out a few points under it: other sources differ).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main", "summarise_seeds"]

METRICS = ("accuracy", "macro_f1", "balanced_accuracy")


def _stats(values: Sequence[float]) -> dict[str, float]:
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return {"mean": mean, "sd": sd, "min": min(values), "max": max(values)}


def summarise_seeds(run_dirs: Sequence[str | Path]) -> dict[str, Any]:
    """Mean, sample standard deviation, min and max of each run's kept-weights validation figures.

    Raises:
        FileNotFoundError: A run has no ``report/report.json``.
        ValueError: No runs, or runs with different classes.
    """
    if not run_dirs:
        raise ValueError("no runs given")
    reports = []
    for run in run_dirs:
        path = Path(run) / "report" / "report.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no report (did the run finish?)")
        reports.append(json.loads(path.read_text(encoding="utf-8")))
    classes = [tuple(r["calibrated"]["per_class"]) for r in reports]
    if len(set(classes)) != 1:
        raise ValueError("the runs have different classes")
    out: dict[str, Any] = {
        "runs": [str(r) for r in run_dirs],
        "images": [r["calibrated"]["n"] for r in reports],
    }
    for key in METRICS:
        out[key] = _stats([r["calibrated"][key] for r in reports])
    out["recall"] = {
        c: _stats([r["calibrated"]["per_class"][c]["recall"] for r in reports]) for c in classes[0]
    }
    out["ece_uncalibrated"] = _stats([r["uncalibrated"]["ece"] for r in reports])
    out["ece_calibrated"] = _stats([r["calibrated"]["ece"] for r in reports])
    crossed = [r.get("ece_cross_fitted") for r in reports]
    if all(v is not None for v in crossed):
        out["ece_cross_fitted"] = _stats([float(v) for v in crossed if v is not None])
    out["temperature"] = _stats([r["temperature"] for r in reports])
    return out


def to_markdown(summary: dict[str, Any]) -> str:
    """One table: each figure as mean ± sd (min to max) over the runs."""

    def cell(s: dict[str, float]) -> str:
        return f"{s['mean']:.3f} ± {s['sd']:.3f} ({s['min']:.3f} to {s['max']:.3f})"

    n = len(summary["runs"])
    lines = [
        f"{n} run(s), {'/'.join(str(i) for i in summary['images'])} validation images; "
        "mean ± sample sd (min to max)",
        "",
        "| figure | value |",
        "|---|---|",
    ]
    lines += [f"| {key.replace('_', ' ')} | {cell(summary[key])} |" for key in METRICS]
    lines += [f"| recall {c} | {cell(s)} |" for c, s in summary["recall"].items()]
    for key in ("ece_uncalibrated", "ece_calibrated", "ece_cross_fitted", "temperature"):
        if key in summary:
            lines.append(f"| {key.replace('_', ' ')} | {cell(summary[key])} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="train.py run dirs of one recipe")
    p.add_argument("--json", dest="json_out", type=Path, help="also write the summary as JSON here")
    args = p.parse_args(argv)
    try:
        summary = summarise_seeds(args.runs)
    except (FileNotFoundError, ValueError) as exc:
        p.exit(2, f"seed_summary: {exc}\n")
    print(to_markdown(summary), end="")
    if args.json_out:
        args.json_out.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    main()
