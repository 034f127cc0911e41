"""A 200-instance study by STOW-RS (one POST, and in batches) against the same study by C-STORE.

    .venv/bin/python bench/stow.py [--instances 200] [--batch 50] [--rounds 3] [--source dicom/...]
        [--database-url postgres://...] [--broker-url redis://127.0.0.1:6379/4]

The study is ``bench/dicom_study.py``'s (the files ``bench/cstore.py`` sends),
a fresh copy for every row of every round. On one throw-away PostgreSQL
database (default ``oncoportal_bench_stow``, created and emptied first) it
starts the real web server (``manage.py runserver``, DEBUG off) and the real
DICOM listener (``manage.py dicom_listener``), and times, from the first byte
sent, until every instance of the study is an Image row with a queued
prediction (an active brain MRI model version is registered):

- STOW-RS, one ``POST /dicomweb/studies`` with every instance as a part of one
  multipart/related body (intake runs inside the request: the answer comes
  once the study is ingested and queued);
- STOW-RS in batches of ``--batch`` instances, one POST after the other;
- C-STORE over one association to the listener, then its release; the
  listener ingests the study when the association is released.

Rows take turns within each round (the order rotates); medians over the rounds
and the ratios to C-STORE are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.cstore import (  # noqa: E402  (after the path is set)
    AE_TITLE,
    SITE,
    association_rows,
    free_port,
    listener_env,
    purge_broker,
    setup_bench_database,
    start_listener,
    wait_for_port,
    wait_ingested,
)
from bench.dicom_study import DEFAULT_SOURCE, send_study, source_files, study_copies  # noqa: E402

DEFAULT_URL = "postgres://postgres@localhost:5432/oncoportal_bench_stow"


def _multipart(files: list[Path]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    chunks = [
        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + path.read_bytes() + b"\r\n"
        for path in files
    ]
    body = b"".join(chunks) + f"--{boundary}--\r\n".encode()
    return body, f'multipart/related; type="application/dicom"; boundary={boundary}'


def _stow(base: str, token: str, files: list[Path], batch: int) -> float:
    """Seconds for the POSTs of ``files`` in batches (bodies built beforehand), each answered 200."""
    bodies = [_multipart(files[i : i + batch]) for i in range(0, len(files), batch)]
    start = time.perf_counter()
    for body, ctype in bodies:
        request = urllib.request.Request(
            f"{base}/dicomweb/studies",
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": ctype,
                "Accept": "application/dicom+json",
            },
        )
        with urllib.request.urlopen(request, timeout=600) as response:
            answer = json.loads(response.read())
            if response.status != 200 or "00081198" in answer:  # Failed SOP Sequence
                raise RuntimeError(f"STOW-RS answered {response.status}: {str(answer)[:300]}")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=200, help="instances of the study (default 200)")
    parser.add_argument(
        "--batch", type=int, default=50, help="instances per POST of the batched row (default 50)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--source", default=DEFAULT_SOURCE, help=f"folder or file (default {DEFAULT_SOURCE})")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_STOW_DATABASE_URL", DEFAULT_URL))
    parser.add_argument(
        "--broker-url", default=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/4")
    )
    args = parser.parse_args()
    try:
        sources = source_files(args.source)
    except FileNotFoundError as exc:
        print(f"bench/stow.py: {exc}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="oncoportal-stow-"))
    var = work / "var"
    if not setup_bench_database(args.database_url, var, "bench/stow.py"):
        return 2
    from django.contrib.auth.models import Group

    from api.services.tokens import token_create
    from cases.models import Image, Role, Site, User
    from inference.models import Prediction

    user = User.objects.create_user(
        username="bench-stow", password="bench-password-1", site=Site.objects.get(code=SITE)
    )
    user.groups.add(Group.objects.get(name=Role.RADIOLOGIST))
    token = token_create(
        user=user, name="bench", scopes="read,upload", expires_in=timedelta(days=1), rate_per_minute=1_000_000
    ).value
    env = {**listener_env(args.database_url, var, args.broker_url), "ALLOWED_HOSTS": "127.0.0.1"}
    port = free_port()
    rows = ["STOW-RS, one POST", f"STOW-RS, POSTs of {args.batch}", "C-STORE, one association"]
    times: dict[str, list[float]] = {row: [] for row in rows}
    procs: list[subprocess.Popen[str]] = []
    log_path = work / "servers.log"
    try:
        with open(log_path, "w") as log:
            web: subprocess.Popen[str] = subprocess.Popen(
                [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=log,
                text=True,
            )
            procs.append(web)
            listener, listener_port = start_listener(env, log)
            procs.append(listener)
            wait_for_port(port, web, "runserver")
            base = f"http://127.0.0.1:{port}"
            print(f"{args.instances} instances from {args.source}; {args.rounds} rounds; logs in {log_path}")
            for r in [None, *range(args.rounds)]:  # None: the warm-up round, not counted
                order = rows[(r or 0) % 3 :] + rows[: (r or 0) % 3]
                line = []
                for row in order:
                    # the warm-up round (imports, connections) sends a tenth of the study
                    count = args.instances if r is not None else max(1, args.instances // 10)
                    study_uid, files = study_copies(sources, count, work / "study")
                    if row.startswith("C-STORE"):
                        audits = association_rows()
                        start = time.monotonic()
                        _, released = send_study(listener_port, AE_TITLE, files)
                        _, queued = wait_ingested(study_uid, len(files), released, audits)
                        seconds = released - start + queued
                    else:
                        seconds = _stow(base, token, files, len(files) if "one POST" in row else args.batch)
                        images = Image.objects.filter(series__study__study_instance_uid=study_uid)
                        waiting = Prediction.objects.filter(image__in=images, status=Prediction.Status.QUEUED)
                        if images.count() != len(files) or waiting.count() != len(files):
                            raise RuntimeError(
                                f"{row}: the study is not all ingested and queued on the answer"
                            )
                    shutil.rmtree(work / "study")
                    if r is not None:
                        times[row].append(seconds)
                    line.append(f"{row} {seconds:.2f} s")
                print(f"round {'warm-up' if r is None else r + 1}: " + "; ".join(line), flush=True)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        purge_broker(args.broker_url)
    cstore = statistics.median(times[rows[2]])
    print(
        f"\n{'path (until ingested and queued)':36}{'median s':>10}{'instances/s':>13}{'/ C-STORE':>11}   rounds"
    )
    for row in rows:
        med = statistics.median(times[row])
        print(
            f"{row:36}{med:10.2f}{args.instances / med:13.1f}{med / cstore:10.2f}x   "
            + " ".join(f"{v:.2f}" for v in times[row])
        )
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
