"""Load: concurrent uploaders against gunicorn + PostgreSQL + Redis + one Celery worker, on loopback.

    .venv/bin/python bench/load.py [--uploaders 50] [--duration 300] [--max-uploads 20000]
        [--prediction-wait 600] [--web-workers 4] [--database-url postgres://…/onco_load]
        [--redis-url redis://127.0.0.1:6379/0]

Starts a private stack: a fresh PostgreSQL database (dropped and created), the Redis
database given (emptied), gunicorn serving ``oncoportal.wsgi`` under production settings
(``ONCOPORTAL_PRODUCTION=1`` with throw-away keys; plain HTTP on loopback, so the HTTPS
redirect is off) and one Celery worker reading every queue, concurrency 1. Seeds a site, a
radiologist with one API token per uploader, and the shipped brain_mri model (an untrained
one of the same shape when it is missing).

Each uploader is a closed loop, as a radiologist at a workstation: upload one unique image
through ``POST /api/v1/studies/`` (a real brain MRI slice from ``ONCOPORTAL_DATA_DIR`` with
its own pixel stamp, or a generated one without data), wait until its case is predicted, then
upload the next, until ``--duration`` seconds or ``--max-uploads`` uploads in all. A case still
not predicted ``--prediction-wait`` seconds after its upload is lost. One warm-up upload
(model load) runs first and is not counted.

Prints uploads, errors (any non-201 answer, a transport error, a failed case), lost studies,
p50/p95 upload latency and time to prediction (upload start to the case seen predicted; the
database is polled every 0.25 s), and the peak resident memory of gunicorn (master and
workers) and of the Celery worker (with its pool process), sampled every second. Exit status
0 with zero errors and zero lost studies, 1 otherwise, 2 when the stack cannot start.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import secrets
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.load_stack import free_port, sample_memory, start_stack, stop_stack  # noqa: E402  (after the path is set)
from bench.worklist import django_on_fresh_postgres  # noqa: E402

TASK = "brain_mri"
CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]
POLL_S = 0.25


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    uploads: int = 0  # answered 201
    started: int = 0  # upload attempts (bounded by --max-uploads)
    errors: list[str] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    upload_s: list[float] = field(default_factory=list)
    predict_s: list[float] = field(default_factory=list)
    case_ids: set[int] = field(default_factory=set)
    peak_kib: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (sum, largest process)

    def error(self, what: str) -> None:
        with self.lock:
            self.errors.append(what)


class Images:
    """Unique JPEGs: real slices from the data folder, each stamped with its own counter."""

    def __init__(self, data_dir: Path):
        import numpy as np
        from PIL import Image as PILImage

        paths = sorted((data_dir / TASK / "train").glob("*/*.jpg"))[::40][:32]
        rng = np.random.default_rng(0)
        if paths:
            self.bases = [np.asarray(PILImage.open(p).convert("L")) for p in paths]
        else:  # no data here: smooth random blobs of a plausible size
            self.bases = [(rng.random((256, 256)) * 255).astype("uint8") for _ in range(8)]
        self.lock = threading.Lock()
        self.counter = 0

    def next(self) -> bytes:
        import numpy as np
        from PIL import Image as PILImage

        with self.lock:
            self.counter += 1
            n = self.counter
        pixels = self.bases[n % len(self.bases)].copy()
        bits = np.array([(n >> i) & 1 for i in range(32)], dtype="uint8") * 255
        pixels[:4, :32] = bits  # a 32-bit stamp in the top-left corner: every file is new
        out = io.BytesIO()
        PILImage.fromarray(pixels).save(out, format="JPEG", quality=92)
        return out.getvalue()


class Waiter:
    """One thread polls the database for the cases the uploaders wait on."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: dict[int, tuple[threading.Event, list[str]]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def wait(self, case_id: int) -> tuple[threading.Event, list[str]]:
        entry: tuple[threading.Event, list[str]] = (threading.Event(), [])
        with self.lock:
            self.pending[case_id] = entry
        return entry

    def _run(self) -> None:
        from django.db import connection

        from cases.models import Case, CaseStatus

        waiting = (CaseStatus.RECEIVED, CaseStatus.QUEUED, CaseStatus.PREDICTING)
        while not self.stop.wait(POLL_S):
            with self.lock:
                ids = list(self.pending)
            if not ids:
                continue
            for pk, status in (
                Case.objects.filter(pk__in=ids).exclude(status__in=waiting).values_list("pk", "status")
            ):
                with self.lock:
                    event, result = self.pending.pop(pk)
                result.append(status)
                event.set()
        connection.close()


def _uploader(
    n: int,
    base: str,
    token: str,
    deadline: float,
    args: argparse.Namespace,
    images: Images,
    waiter: Waiter,
    stats: Stats,
) -> None:
    import requests

    from cases.models import CaseStatus

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    while time.monotonic() < deadline:
        with stats.lock:
            if stats.started >= args.max_uploads:
                return
            stats.started += 1
        body = images.next()
        t0 = time.monotonic()
        try:
            reply = session.post(
                f"{base}/api/v1/studies/",
                data={"task": TASK},
                files=[("files", (f"u{n}-{stats.started}.jpg", body, "image/jpeg"))],
                timeout=120,
            )
        except requests.RequestException as exc:
            stats.error(f"uploader {n}: {type(exc).__name__}: {exc}")
            time.sleep(1)
            continue
        upload_s = time.monotonic() - t0
        if reply.status_code != 201:
            stats.error(f"uploader {n}: HTTP {reply.status_code}: {reply.text[:200]}")
            time.sleep(1)
            continue
        case_ids = [int(c) for c in reply.json().get("case_ids", [])]
        if len(case_ids) != 1:
            stats.error(f"uploader {n}: expected one case, got {case_ids}")
            continue
        with stats.lock:
            stats.uploads += 1
            stats.upload_s.append(upload_s)
            stats.case_ids.add(case_ids[0])
        event, result = waiter.wait(case_ids[0])
        if not event.wait(max(0.0, t0 + args.prediction_wait - time.monotonic())):
            with stats.lock:
                stats.lost.append(case_ids[0])
            continue
        if result[0] != CaseStatus.PREDICTED:
            stats.error(f"case {case_ids[0]}: {result[0]}")
            continue
        with stats.lock:
            stats.predict_s.append(time.monotonic() - t0)


def _seed(uploaders: int) -> list[str]:
    """A site, a radiologist with one API token per uploader, the brain_mri model active."""
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from api.services.tokens import token_create
    from cases.models import Site, User
    from inference.services import model_version_activate, model_version_register
    from oncocore import registry

    call_command("migrate", verbosity=0)
    site = Site.objects.create(code="load", name="Load bench")
    user = User.objects.create_user("load-radiologist", password=secrets.token_urlsafe(16), site=site)
    user.groups.add(Group.objects.get(name="Radiologist"))
    bundle = REPO / "inference" / "bundles" / "brain_mri-lite0"
    if not (bundle / "model.json").exists():
        bundle = Path(os.environ["ONCOPORTAL_VAR_DIR"]) / "bundle"
        registry.make_random_bundle(bundle, task=TASK, class_names=CLASSES, arch="resnet10", input_size=128)
    version, _ = model_version_register(bundle_dir=bundle)
    model_version_activate(version=version, exclusive=True)
    return [
        token_create(user=user, name=f"load {i}", scopes="read,upload", rate_per_minute=100_000).value
        for i in range(uploaders)
    ]


def _report(args: argparse.Namespace, stats: Stats, elapsed: float) -> int:
    from cases.models import Case

    # Every accepted upload is a case in the database, and nothing else is (the warm-up aside).
    stored = set(Case.objects.filter(site__code="load").values_list("pk", flat=True))
    missing = stats.case_ids - stored
    lost = len(stats.lost) + len(missing)
    print(
        f"\nload: {args.uploaders} uploaders, {elapsed:.0f} s, {args.web_workers} gunicorn workers, "
        f"1 Celery worker (concurrency 1), {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"uploads {stats.uploads} ({stats.uploads / elapsed:.2f}/s)   errors {len(stats.errors)}   lost {lost}"
    )
    ms = [s * 1e3 for s in stats.upload_s]
    print(f"upload latency      p50 {_percentile(ms, 0.5):.0f} ms   p95 {_percentile(ms, 0.95):.0f} ms")
    print(
        f"time to prediction  p50 {_percentile(stats.predict_s, 0.5):.1f} s    "
        f"p95 {_percentile(stats.predict_s, 0.95):.1f} s"
    )
    for name, (total, largest) in stats.peak_kib.items():
        print(f"peak RSS {name:<9} {total / 1024:.0f} MiB in all, largest process {largest / 1024:.0f} MiB")
    for line in stats.errors[:10]:
        print(f"  error: {line}", file=sys.stderr)
    if stats.lost or missing:
        print(f"  lost cases: {sorted([*stats.lost, *missing])[:20]}", file=sys.stderr)
    return 0 if not stats.errors and not lost else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--uploaders", type=int, default=50)
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of uploading")
    parser.add_argument("--max-uploads", type=int, default=20_000, help="uploads in all, at most")
    parser.add_argument("--prediction-wait", type=float, default=600.0, help="seconds a case may take")
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/onco_load")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("ONCOPORTAL_DATA_DIR", REPO.parent / "shared" / "data")),
    )
    args = parser.parse_args(argv)
    if importlib.util.find_spec("gunicorn") is None:
        print("load: gunicorn is not installed (pip install '.[prod]')", file=sys.stderr)
        return 2
    var = Path(tempfile.mkdtemp(prefix="oncoportal-load-"))
    (var / "log").mkdir()
    os.environ.update(
        ONCOPORTAL_PRODUCTION="1",
        SECRET_KEY=secrets.token_urlsafe(48),
        ONCOPORTAL_PSEUDONYM_KEY=secrets.token_urlsafe(48),
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",  # plain HTTP on loopback; behind a TLS proxy in production
        CELERY_BROKER_URL=args.redis_url,
        ONCOPORTAL_VAR_DIR=str(var),
        ONCOPORTAL_DEVICE="cpu",
        DJANGO_SETTINGS_MODULE="oncoportal.settings",
    )
    if not django_on_fresh_postgres(args.database_url, script="load"):
        return 2
    import redis
    from tqdm import tqdm

    redis.Redis.from_url(args.redis_url).flushdb()
    tokens = _seed(args.uploaders)
    images = Images(args.data_dir)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    procs = start_stack(args, var / "log", port)
    stats, waiter, stop = Stats(), Waiter(), threading.Event()
    waiter.thread.start()
    try:
        warm = Stats()  # the first upload loads the model in the worker: not counted
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if any(p.poll() is not None for p in procs.values()):
                    break
                time.sleep(0.2)
        warm_args = argparse.Namespace(**{**vars(args), "max_uploads": 1})
        _uploader(-1, base, tokens[0], time.monotonic() + 600, warm_args, images, waiter, warm)
        if warm.errors or warm.lost or not warm.predict_s:
            print(
                f"load: the stack did not predict a warm-up upload ({(warm.errors or ['lost'])[0]}); logs in {var / 'log'}",
                file=sys.stderr,
            )
            return 2
        threading.Thread(target=sample_memory, args=(procs, stats.peak_kib, stop), daemon=True).start()
        start = time.monotonic()
        deadline = start + args.duration
        threads = [
            threading.Thread(
                target=_uploader, args=(i, base, tokens[i], deadline, args, images, waiter, stats)
            )
            for i in range(args.uploaders)
        ]
        for t in threads:
            t.start()
        with tqdm(total=round(args.duration), unit="s", file=sys.stderr, dynamic_ncols=True) as bar:
            while any(t.is_alive() for t in threads):
                time.sleep(1)
                bar.n = min(round(time.monotonic() - start), round(args.duration))
                bar.set_postfix(
                    uploads=stats.uploads,
                    predicted=len(stats.predict_s),
                    errors=len(stats.errors),
                    lost=len(stats.lost),
                )
        elapsed = min(time.monotonic(), deadline) - start
        stop.set()
        return _report(args, stats, elapsed)
    finally:
        stop.set()
        waiter.stop.set()
        stop_stack(procs)
        print(f"load: logs in {var / 'log'}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
