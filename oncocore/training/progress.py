"""The run's progress file and its stop signal, for whoever runs ``train`` as a subprocess.

``--progress-file PATH`` keeps one JSON object there, replaced atomically
(write ``PATH.tmp``, then ``os.replace``), at most once a second during an
epoch and at every phase change::

    {"phase": "loading" | "training" | "validating" | "testing" | "exporting" | "done",
     "epoch": epochs done, "epochs": total, "step": step in this epoch, "steps": steps per epoch,
     "train_loss": running mean of this epoch, "val": last epoch's validation metrics,
     "history": [the log.jsonl records], "elapsed_s": seconds since start, "eta_s": seconds left or null,
     "resumed_from_epoch": the epoch a --resume started at, or null, "bundle": {...} once exported}

Only rank 0 of a distributed run writes it. SIGTERM (or SIGINT) sets a flag
that the training loop checks after every step: :class:`StopRequested` is
raised there, the last complete checkpoint stays as it was, and the process
exits with 128 + the signal number.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

__all__ = ["PHASES", "Progress", "StopRequested", "StopSignal"]

PHASES = ("loading", "training", "validating", "testing", "exporting", "done")


class StopRequested(Exception):
    """SIGTERM/SIGINT arrived: stop at the next safe point."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by signal {signal.Signals(signum).name}")
        self.signum = signum


class StopSignal:
    """Turns SIGTERM and SIGINT into a flag checked at safe points (installed in the main thread)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> StopSignal:
        """Catch the signals (only possible in the main thread; elsewhere this does nothing)."""
        if threading.current_thread() is not threading.main_thread():
            return self
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.signum = signum

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def check(self) -> None:
        """Raise :class:`StopRequested` if a stop signal arrived."""
        if self.signum is not None:
            raise StopRequested(self.signum)


class Progress:
    """The progress record; writes nothing when ``path`` is None (no flag, or not rank 0)."""

    def __init__(self, path: str | Path | None, *, epochs: int, min_interval_s: float = 1.0) -> None:
        self.path = Path(path) if path else None
        self.min_interval_s = min_interval_s
        self.started = time.monotonic()
        self._last_write = -float("inf")
        self._rate: tuple[float, int] | None = None  # (monotonic time, global step) when training began
        self.state: dict[str, Any] = {
            "phase": "loading",
            "epoch": 0,
            "epochs": epochs,
            "step": 0,
            "steps": 0,
            "train_loss": None,
            "val": None,
            "history": [],
            "elapsed_s": 0.0,
            "eta_s": None,
            "resumed_from_epoch": None,
            "bundle": None,
        }

    def update(self, **fields: Any) -> None:
        """Change fields; written now when the phase changes, else at most once per ``min_interval_s``."""
        if "phase" in fields and fields["phase"] not in PHASES:
            raise ValueError(f"unknown phase {fields['phase']!r}")
        changed = "phase" in fields and fields["phase"] != self.state["phase"]
        self.state.update(fields)
        if changed or time.monotonic() - self._last_write >= self.min_interval_s:
            self.write()

    def start_training(self, *, epoch: int, steps: int) -> None:
        """Training (re)starts at ``epoch``: the ETA is measured from here, not from loading."""
        self._rate = (time.monotonic(), epoch * steps)
        self.update(phase="training", epoch=epoch, step=0, steps=steps)

    def step(self, step: int, train_loss: float) -> None:
        """One optimizer/micro step of the current epoch done (throttled write)."""
        self.update(phase="training", step=step, train_loss=train_loss)

    def epoch_done(self, record: dict[str, Any], val: dict[str, Any]) -> None:
        """An epoch's log record and validation metrics (always written)."""
        self.state["history"].append(record)
        self.state.update(epoch=record["epoch"] + 1, step=0, val=val)
        self.write()

    def _eta(self) -> float | None:
        s = self.state
        if self._rate is None or not s["steps"]:
            return None
        t0, step0 = self._rate
        done = s["epoch"] * s["steps"] + s["step"] - step0
        if done <= 0:
            return None
        left = max(0, s["epochs"] * s["steps"] - (s["epoch"] * s["steps"] + s["step"]))
        return round((time.monotonic() - t0) / done * left, 1)

    def write(self) -> None:
        """Replace the file with the current state (tmp file + ``os.replace``)."""
        self._last_write = time.monotonic()
        if self.path is None:
            return
        self.state["elapsed_s"] = round(time.monotonic() - self.started, 1)
        self.state["eta_s"] = 0.0 if self.state["phase"] == "done" else self._eta()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.state, default=float) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)
