"""Upload -> prediction stored latency for single images, through the real web server, broker and worker.

    .venv/bin/python bench/latency.py [--uploads 20] [--broker filesystem|redis] [--bundle DIR]

Starts `manage.py runserver` and a Celery worker on a throw-away SQLite
database, logs in over HTTP, uploads one real image at a time through the
upload page (as the browser's script does) and waits until its prediction row
is DONE. Prints p50/p95/max in milliseconds.
"""

from __future__ import annotations

import argparse
import hashlib
import http.cookiejar
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _multipart(fields: dict[str, str], files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    for name, filename, data in files:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Browser:
    """Just enough of a browser: cookies and the CSRF token."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def csrf(self) -> str:
        return next(c.value for c in self.jar if c.name == "csrftoken" and c.value is not None)

    def get(self, path: str) -> str:
        return self.opener.open(self.base + path, timeout=60).read().decode()

    def post(self, path: str, body: bytes, content_type: str, accept: str = "text/html") -> bytes:
        req = urllib.request.Request(self.base + path, data=body, method="POST")
        req.add_header("Content-Type", content_type)
        req.add_header("X-CSRFToken", self.csrf())
        req.add_header("Referer", self.base + path)
        req.add_header("Accept", accept)
        return self.opener.open(req, timeout=120).read()

    def login(self, username: str, password: str) -> None:
        page = self.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        body = urllib.parse.urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": token}
        )
        self.post("/login/", body.encode(), "application/x-www-form-urlencoded")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--broker", choices=["filesystem", "redis"], default="filesystem")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument(
        "--bundle", type=Path, help="default: the shipped brain_mri bundle, else an untrained one"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("ONCOPORTAL_DATA_DIR", REPO.parent / "shared" / "data")),
    )
    args = parser.parse_args()

    var = Path(tempfile.mkdtemp(prefix="oncoportal-latency-")) / "var"
    env = {**os.environ, "ONCOPORTAL_VAR_DIR": str(var), "DJANGO_SETTINGS_MODULE": "oncoportal.settings"}
    env.pop("DATABASE_URL", None)
    env["CELERY_BROKER_URL"] = args.redis_url if args.broker == "redis" else "filesystem://"
    os.environ.update(env)
    import django

    django.setup()
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from cases.models import Site, User
    from inference.models import Prediction
    from inference.services import model_version_activate, model_version_register
    from oncocore import registry
    from oncoportal import celery_config

    call_command("migrate", verbosity=0)
    if args.broker == "redis":
        import redis

        redis.Redis.from_url(args.redis_url).flushdb()
    site = Site.objects.create(code="bench", name="Bench")
    user = User.objects.create_user("bench", password="bench-password-1", site=site)
    user.groups.add(Group.objects.get(name="Radiologist"))
    bundle = args.bundle or next(iter(sorted((REPO / "inference" / "bundles").glob("brain_mri*"))), None)
    if bundle is None:
        bundle = var.parent / "bundle"
        registry.make_random_bundle(
            bundle,
            task="brain_mri",
            class_names=["glioma", "meningioma", "notumor", "pituitary"],
            arch="resnet10",
            input_size=128,
        )
    version, _ = model_version_register(bundle_dir=bundle)
    model_version_activate(version=version, exclusive=True)

    port = _free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "oncoportal", "worker", "-Q", ",".join(celery_config.WORKERS["all"]),
             "--pool", "solo", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ),
    ]  # fmt: skip
    try:
        browser = Browser(f"http://127.0.0.1:{port}")
        for _ in range(200):
            try:
                browser.get("/login/")
                break
            except OSError:
                time.sleep(0.2)
        browser.login("bench", "bench-password-1")
        images = sorted((args.data_dir / "brain_mri" / "train").glob("*/*.jpg"))[: args.uploads + 1]
        # The first upload warms the worker (model load); it is not counted.
        latencies = []
        for i, path in enumerate(images):
            body, ctype = _multipart({"task": "brain_mri"}, [("files", path.name, path.read_bytes())])
            t0 = time.perf_counter()
            reply = json.loads(browser.post("/upload/", body, ctype, accept="application/json"))
            assert reply["accepted"] == 1, reply
            while not Prediction.objects.filter(
                image__sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                status=Prediction.Status.DONE,
            ).exists():
                if time.perf_counter() - t0 > 300:
                    raise SystemExit(f"bench: no prediction for {path.name} after 300 s")
                time.sleep(0.01)
            if i > 0:
                latencies.append((time.perf_counter() - t0) * 1e3)
        latencies.sort()
        p95 = latencies[max(0, round(0.95 * len(latencies)) - 1)]
        print(
            f"\nupload -> prediction stored, {len(latencies)} single-image uploads, broker {args.broker}, "
            f"model {version}, {os.cpu_count()} cores"
        )
        print(f"p50 {statistics.median(latencies):.0f} ms   p95 {p95:.0f} ms   max {latencies[-1]:.0f} ms")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
