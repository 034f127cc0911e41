"""The ML core must import without Django (notebooks, GPU boxes)."""

from __future__ import annotations

import subprocess
import sys

from .conftest import REPO

MODULES = [
    "inference.nets",
    "inference.preprocessing",
    "inference.model_card",
    "inference.registry",
    "inference.saliency",
    "inference.predictor",
    "inference.training.train",
    "inference.training.loops",
    "inference.training.evaluate",
    "inference.training.ensemble",
]


def test_core_imports_without_django():
    code = (
        "import sys; import " + ", ".join(MODULES) + "\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'django', 'rest_framework', 'cases'})\n"
        "assert not bad, bad"
    )
    env = {"PATH": "", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
