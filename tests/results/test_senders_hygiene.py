"""The senders are Django-free (like oncocore): a fresh interpreter imports them without loading Django."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_the_senders_import_no_django():
    code = (
        "import sys, results.senders.dimse, results.senders.stow;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'celery', 'cases'));"
        "print(','.join(bad))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
