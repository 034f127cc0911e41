"""Quick try-out: predict local files without storing a case."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from cases.task_registry import task_keys
from inference.scoring import predictor_for
from inference.selectors import active_ensemble
from oncocore.decode import decode_local_file
from oncocore.predictor import Predictor
from oncocore.saliency import overlay_png
from oncocore.scoring import overlay_display, score_batches

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
        # The platform's one scoring path, on local files.
        for batch in score_batches(
            predictor,
            files,
            lambda path: decode_local_file(path, spec),
            saliency=bool(opts["overlay_dir"]),
            catch=(ValueError, OSError),
        ):
            for scored in batch:
                path, r = scored.key, scored.result
                if scored.error is not None or r is None:
                    failures += 1
                    self._emit(opts, {"path": str(path), "task": task, "error": _error_text(scored.error)})
                    continue
                outside = r.in_scope is False
                row = {
                    "path": str(path),
                    "task": task,
                    # Outside the model's scope: no class; the probabilities stay for audit.
                    "label": "" if outside else r.label,
                    "in_scope": r.in_scope,
                    "scope_ratio": None if r.scope_ratio is None else round(r.scope_ratio, 4),
                    "probabilities": {k: round(v, 6) for k, v in r.probabilities.items()},
                    "uncertainty": round(r.uncertainty, 6),
                    "model_version": version,
                    "untrained": r.untrained,
                }
                if opts["overlay_dir"] and r.cam is not None and scored.array is not None and not outside:
                    out = opts["overlay_dir"] / f"{path.stem}.overlay.png"
                    out.write_bytes(overlay_png(overlay_display(scored.array), r.cam))
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
        members = active_ensemble(task=opts["task"])
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
        elif row["in_scope"] is False:
            self.stdout.write(
                f"{row['path']}: OUTSIDE THE MODEL'S SCOPE (suitability {row['scope_ratio']:.2f} > 1; "
                "unlike the images it was trained on: no class given)"
            )
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


def _error_text(exc: BaseException | None) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    text = str(exc) if exc is not None else ""
    return text.splitlines()[0][:300] if text else type(exc).__name__
