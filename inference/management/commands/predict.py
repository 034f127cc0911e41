"""Quick try-out: predict local files without storing a case."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from cases.task_registry import task_keys
from inference.models import ModelVersion
from inference.pipeline import predictor_for
from oncocore.decode import decode_local_file
from oncocore.predictor import Predictor, iter_prepared
from oncocore.saliency import overlay_png

_SKIP = {".DS_Store", "DICOMDIR", "MANIFEST.tsv"}


class Command(BaseCommand):
    help = (
        "Predict DICOM files or images (files or folders) with the task's active model. "
        "With --json, one JSON object per input and line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--task", choices=task_keys(), default=None)
        parser.add_argument("--bundle", type=Path, help="use this bundle folder instead of the active model")
        parser.add_argument("--json", action="store_true", help="JSON lines output")
        parser.add_argument("--overlay-dir", type=Path, help="write a saliency overlay PNG per input here")
        parser.add_argument(
            "--device", choices=["cuda", "mps", "cpu"], help="default: cuda, then mps, then cpu"
        )
        parser.add_argument("--batch-size", type=int, default=32)

    def handle(self, *args: Any, **opts: Any) -> None:
        predictor = self._predictor(opts)
        task = predictor.task
        files = _collect(opts["paths"])
        if not files:
            raise CommandError("no input files found")
        if opts["overlay_dir"]:
            opts["overlay_dir"].mkdir(parents=True, exist_ok=True)
        spec = predictor.members[0].card.preprocessing
        version = ", ".join(predictor.model_versions)
        failures = 0
        bar = tqdm(total=len(files), unit="img", desc="predict", file=sys.stderr, disable=None)
        for batch in iter_prepared(
            files, lambda p: (p, *_safe_decode(p, spec)), batch_size=predictor.batch_size
        ):
            # _safe_decode gives an array or an error, never both: test the one used.
            good = [(p, a) for p, a, _ in batch if a is not None]
            results = (
                predictor.predict_batch([a for _, a in good], saliency=bool(opts["overlay_dir"]))
                if good
                else []
            )
            by_path = {p: r for (p, _), r in zip(good, results, strict=True)}
            for path, array, err in batch:
                if array is None:
                    failures += 1
                    self._emit(opts, {"path": str(path), "task": task, "error": err})
                    continue
                r = by_path[path]
                row = {
                    "path": str(path),
                    "task": task,
                    "label": r.label,
                    "probabilities": {k: round(v, 6) for k, v in r.probabilities.items()},
                    "uncertainty": round(r.uncertainty, 6),
                    "model_version": version,
                    "untrained": r.untrained,
                }
                if opts["overlay_dir"] and r.cam is not None:
                    out = opts["overlay_dir"] / f"{path.stem}.overlay.png"
                    out.write_bytes(overlay_png(array, r.cam))
                    row["overlay"] = str(out)
                self._emit(opts, row)
            bar.update(len(batch))
        bar.close()
        if predictor.untrained and not opts["json"]:
            self.stderr.write("WARNING: the model is UNTRAINED (random weights); these labels mean nothing.")
        if failures == len(files):
            raise CommandError("no input could be read")

    def _predictor(self, opts: dict[str, Any]) -> Predictor:
        if opts["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        if opts["bundle"]:
            try:
                return Predictor(opts["bundle"], device=opts["device"], batch_size=opts["batch_size"])
            except (OSError, ValueError) as exc:
                raise CommandError(f"cannot load bundle {opts['bundle']}: {exc}") from exc
        if not opts["task"]:
            raise CommandError("--task is required (or give --bundle)")
        members = list(
            ModelVersion.objects.filter(task=opts["task"], status=ModelVersion.Status.ACTIVE).order_by(
                "-weight", "pk"
            )
        )
        if not members:
            raise CommandError(f"no active model for {opts['task']} (see `manage.py list_models`)")
        predictor = predictor_for(members)
        predictor.batch_size = opts["batch_size"]
        if opts["device"] and predictor.device.type != opts["device"]:
            return Predictor(
                [m.bundle_path for m in members],
                weights=[m.weight for m in members],
                device=opts["device"],
                batch_size=opts["batch_size"],
            )
        return predictor

    def _emit(self, opts: dict[str, Any], row: dict[str, Any]) -> None:
        if opts["json"]:
            self.stdout.write(json.dumps(row, sort_keys=True))
        elif "error" in row:
            self.stdout.write(f"{row['path']}: ERROR {row['error']}")
        else:
            top = sorted(row["probabilities"].items(), key=lambda kv: -kv[1])
            probs = ", ".join(f"{k} {v:.2f}" for k, v in top)
            flag = "  [UNTRAINED MODEL]" if row["untrained"] else ""
            self.stdout.write(
                f"{row['path']}: {row['label']} ({probs}; uncertainty {row['uncertainty']:.2f}){flag}"
            )


def _collect(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and not p.name.startswith(".") and p.name not in _SKIP
            )
        else:
            files.append(path)  # a missing file is reported as an error line
    return files


def _safe_decode(path: Path, spec: Any) -> tuple[np.ndarray | None, str | None]:
    try:
        return decode_local_file(path, spec), None
    except FileNotFoundError:
        return None, "no such file"
    except (ValueError, OSError) as exc:
        return None, str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
