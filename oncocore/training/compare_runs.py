"""Compare training runs side by side: a Markdown table and one validation-curve figure.

    python -m oncocore.training.compare_runs scratch=var/training/a pretrained=var/training/b \\
        --plot docs/models/pretraining/lung_ct.png

Each run dir holds the ``log.jsonl`` that ``train.py`` writes. The table gives
the best epoch by validation macro-F1 (what ``best.pt`` keeps), the accuracy
at that epoch, and the mean over the last five epochs, which says more about
new data than one lucky epoch on a small validation split.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .plots import plot_run_comparison, read_log

__all__ = ["main", "summarise_run"]


def summarise_run(run_dir: str | Path, tail: int = 5) -> dict[str, Any]:
    """Best-epoch and last-epochs figures of one run (``log.jsonl``).

    Raises:
        FileNotFoundError: No ``log.jsonl`` in ``run_dir``.
        ValueError: The log is empty.
    """
    rows = read_log(Path(run_dir) / "log.jsonl")
    if not rows:
        raise ValueError(f"{run_dir}/log.jsonl: no epochs logged")
    best = max(rows, key=lambda r: r["val_macro_f1"])
    last = rows[-tail:]
    return {
        "epochs": len(rows),
        "best_epoch": best["epoch"],
        "best_macro_f1": best["val_macro_f1"],
        "accuracy_at_best": best["val_accuracy"],
        "last_mean_accuracy": sum(r["val_accuracy"] for r in last) / len(last),
        "last_mean_macro_f1": sum(r["val_macro_f1"] for r in last) / len(last),
        "minutes": sum(r.get("seconds", 0.0) for r in rows) / 60.0,
    }


def main(argv: list[str] | None = None) -> str:
    """Print (and return) the Markdown table; optionally write the figure."""
    p = argparse.ArgumentParser(description="Compare train.py runs side by side.")
    p.add_argument("runs", nargs="+", help="label=run_dir, in table order")
    p.add_argument("--plot", default=None, help="write the validation macro-F1 curves to this PNG")
    p.add_argument("--tail", type=int, default=5, help="epochs averaged at the end of each run")
    args = p.parse_args(argv)
    runs = {}
    for item in args.runs:
        label, sep, run_dir = item.partition("=")
        if not sep or not label or not run_dir:
            p.error(f"{item!r}: expected label=run_dir")
        runs[label] = Path(run_dir)
    lines = [
        f"| run | epochs | best epoch | best macro-F1 | accuracy there | last {args.tail}: accuracy | "
        f"last {args.tail}: macro-F1 | minutes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, run_dir in runs.items():
        s = summarise_run(run_dir, args.tail)
        lines.append(
            f"| {label} | {s['epochs']} | {s['best_epoch']} | {s['best_macro_f1']:.3f} | "
            f"{s['accuracy_at_best']:.3f} | {s['last_mean_accuracy']:.3f} | {s['last_mean_macro_f1']:.3f} | "
            f"{s['minutes']:.0f} |"
        )
    if args.plot:
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        plot_run_comparison({label: d / "log.jsonl" for label, d in runs.items()}, args.plot)
    table = "\n".join(lines)
    print(table)
    return table


if __name__ == "__main__":
    try:
        main()
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"compare_runs: {exc}") from None
