"""The hostile corpus through ``manage.py ingest`` (call_command on a folder of one input), one input per run.

The file is written under its hostile name (bytes for a name that is not UTF-8), or made a
symbolic link (out of the folder, dangling, a loop, to a folder) or a FIFO. Each is stored
whole or listed as rejected with a readable reason (and the command says "nothing could be
ingested" when nothing was); the batch's result page and its admin page then render, never
a 5xx; nothing is half-stored. A FIFO must be refused, not read: a watchdog opens its
other end after a while so a hanging ingest ends, and the test then fails.
"""

from __future__ import annotations

import io
import json
import os
import threading
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from tests.corpus.hostile import HostileInput
from tests.corpus.support import assert_nothing_half_stored, assert_outcome, params

pytestmark = pytest.mark.django_db

FIFO_PATIENCE_SECONDS = 20  # not a timing assertion: how long the watchdog lets a blocked open wait


def _place(item: HostileInput, folder: Path, outside: Path) -> Path:
    """Put ``item`` into ``folder`` as the CLI would find it; returns its path."""
    name = item.upload_name
    path = folder / (os.fsdecode(name) if isinstance(name, bytes) else name)
    path.parent.mkdir(parents=True, exist_ok=True)
    if item.disk == "":
        path.write_bytes(item.data)
    elif item.disk == "symlink-out":
        (outside / "target.dcm").write_bytes(item.data)
        path.symlink_to(outside / "target.dcm")
    elif item.disk == "symlink-dangling":
        path.symlink_to(outside / "missing.dcm")
    elif item.disk == "symlink-loop":
        path.symlink_to(folder / "loop-b")
        (folder / "loop-b").symlink_to(path)
    elif item.disk == "symlink-dir":
        (outside / "study").mkdir()
        (outside / "study" / "IM0001.dcm").write_bytes(item.data)
        path.symlink_to(outside / "study", target_is_directory=True)
    elif item.disk == "fifo":
        os.mkfifo(path)
    else:
        raise AssertionError(item.disk)
    return path


def _release(path: Path, fired: list[bool]) -> None:
    """Open the FIFO's writing end (and close it), so a reader blocked on it reads EOF."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # nobody is reading it: nothing to release
        return
    fired.append(True)
    os.close(fd)


@pytest.mark.parametrize("item", params("cli"))
def test_cli_ingest(item, tmp_path, site, corpus_curator, client, media_dir):
    from cases.models import IntakeBatch

    folder, outside = tmp_path / "in", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    placed = _place(item, folder, outside)
    fired: list[bool] = []
    watchdog = threading.Timer(FIFO_PATIENCE_SECONDS, _release, (placed, fired))
    if item.disk == "fifo":
        watchdog.start()
    out = io.StringIO()
    try:
        call_command("ingest", str(folder), "--json", "--site", site.code, "--task", "brain_mri", stdout=out)
    except CommandError as exc:
        assert str(exc) == "nothing could be ingested"
    finally:
        watchdog.cancel()
    assert not fired, "ingest blocked on the FIFO until the test opened its other end"
    report = json.loads(out.getvalue())
    accepted = len(report["accepted"])
    reasons = [r["reason"] for r in report["rejected"]]
    assert_outcome(item, "cli", accepted=accepted, reasons=reasons)
    assert assert_nothing_half_stored(media_dir) == accepted

    batch = IntakeBatch.objects.get()
    client.force_login(corpus_curator)
    page = client.get(reverse("cases:upload_result", kwargs={"batch_id": batch.pk}))
    assert page.status_code == 200
    assert "<script>alert(1)" not in page.content.decode()
    admin = client.get(reverse("admin:cases_intakebatch_change", args=[batch.pk]))
    assert admin.status_code in (200, 302, 403), admin.status_code
