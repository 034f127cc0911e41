"""Peak memory of a real web server and a real worker while the hostile corpus goes through them.

    .venv/bin/python bench/corpus.py [--port 8765] [--keep]

Starts, on a throw-away ``ONCOPORTAL_VAR_DIR`` (embedded SQLite, filesystem broker) with the
corpus's limits (``tests/corpus/hostile.py`` ``CORPUS_ENVIRONMENT``): ``manage.py migrate``,
a site, a Radiologist with an API token, a random-weight brain MRI model (active), then
``manage.py runserver --noreload`` and one Celery worker (``--pool solo``, every queue).
It sends every file input of the corpus to the REST API (``POST /api/v1/studies/``) and to
STOW-RS (``POST /dicomweb/studies``), one request each, then every whole-request input
(huge, lying and malformed bodies) to the endpoints it targets, waits for the worker to
finish every prediction, and prints per process the RSS after start-up and the peak (VmHWM
from /proc/<pid>/status), the answers by status code, and the predictions by status.
Nothing here asserts: the test (tests/corpus/test_worker.py) holds the bound.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PY = str(REPO / ".venv" / "bin" / "python")

SETUP = """
from datetime import timedelta
from cases.models import Site, User
from cases.roles import sync_roles
from django.contrib.auth.models import Group
from api.services.tokens import token_create
from inference.services import model_version_activate, model_version_register
from oncocore import registry
sync_roles()
site, _ = Site.objects.get_or_create(code="bench", defaults={"name": "Bench"})
user, _ = User.objects.get_or_create(username="bench-rad", defaults={"site": site})
user.groups.add(Group.objects.get(name="Radiologist"))
registry.make_random_bundle(BUNDLE, task="brain_mri", class_names=["glioma", "meningioma", "notumor", "pituitary"], input_size=64)
version, _ = model_version_register(bundle_dir=BUNDLE)
model_version_activate(version=version)
print(token_create(user=user, name="bench", scopes="read,upload", expires_in=timedelta(days=1)).value)
"""
COUNT = """
import json
from inference.models import Prediction
from django.db.models import Count
print(json.dumps(dict(Prediction.objects.values_list("status").annotate(n=Count("id")))))
"""


def status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field + ":"))


def manage(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [PY, "manage.py", *args], cwd=REPO, env=env, input=stdin, capture_output=True, text=True, check=True
    )
    return done.stdout


def post(port: int, path: str, body: bytes, content_type: str, token: str, length: int | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    headers = {"Content-Type": content_type, "Authorization": f"Bearer {token}", "Accept": "application/json"}
    headers["Content-Length"] = str(len(body) if length is None else length)
    try:
        conn.request("POST", path, body=body, headers=headers)
        return conn.getresponse().status
    except (ConnectionError, http.client.HTTPException):
        return 0  # the server closed a connection whose body it would not read (a lying length)
    finally:
        conn.close()


def wait_ready(port: int, log: Path) -> None:
    for _ in range(600):
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=2).request("GET", "/accounts/login/")
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the web server did not start:\n{log.read_text()[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--keep", action="store_true", help="keep the var folder")
    args = parser.parse_args()

    from tests.corpus.hostile import CORPUS_ENVIRONMENT, corpus, requests
    from tests.corpus.http_inputs import FORM, RELATED, form_body, related_body

    var = Path(tempfile.mkdtemp(prefix="oncoportal-bench-corpus-"))
    env = {
        **os.environ,
        **CORPUS_ENVIRONMENT,
        "ONCOPORTAL_VAR_DIR": str(var),
        "DJANGO_SETTINGS_MODULE": "oncoportal.settings",
    }
    for name in ("DATABASE_URL", "CELERY_BROKER_URL"):
        env.pop(name, None)  # the embedded defaults: SQLite and the filesystem broker under var
    manage(env, "migrate", "--noinput")
    token = manage(env, "shell", stdin=f"BUNDLE = {str(var / 'bundle')!r}\n" + SETUP).strip().splitlines()[-1]

    (var / "log").mkdir(exist_ok=True)
    web_log, worker_log = var / "log" / "web.log", var / "log" / "worker.log"
    web = subprocess.Popen(
        [PY, "manage.py", "runserver", f"127.0.0.1:{args.port}", "--noreload"],
        cwd=REPO, env=env, stdout=web_log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    queues = subprocess.run(
        [PY, "-m", "oncoportal.celery_config", "queues", "all"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    ).stdout.strip()
    worker = subprocess.Popen(
        [PY, "-m", "celery", "-A", "oncoportal", "worker", "-Q", queues, "--pool", "solo", "--loglevel", "INFO"],
        cwd=REPO, env=env, stdout=worker_log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_ready(args.port, web_log)
        while b"ready." not in worker_log.read_bytes():
            time.sleep(0.2)
        start = {name: status_kib(p.pid, "VmRSS") for name, p in (("web", web), ("worker", worker))}
        answers: collections.Counter[str] = collections.Counter()
        t0 = time.perf_counter()
        for item in corpus():
            if item.disk:
                continue
            body = form_body([(item.upload_name, item.data)], {"task": "brain_mri"})
            answers[f"api {post(args.port, '/api/v1/studies/', body, FORM, token)}"] += 1
            answers[
                f"stow {post(args.port, '/dicomweb/studies', related_body([('application/dicom', item.data)]), RELATED, token)}"
            ] += 1
        paths = {"api": "/api/v1/studies/", "stow": "/dicomweb/studies"}
        for request in requests():
            for target in request.targets:
                if target in paths:
                    code = post(
                        args.port,
                        paths[target],
                        request.body,
                        request.content_type,
                        token,
                        request.content_length,
                    )
                    answers[f"{target} {code}"] += 1
        sent = time.perf_counter() - t0
        counts: dict[str, int] = {}
        for _ in range(1800):
            counts = json.loads(manage(env, "shell", stdin=COUNT).strip().splitlines()[-1])
            if not counts.get("queued") and not counts.get("running"):
                break
            time.sleep(2)
        peak = {name: status_kib(p.pid, "VmHWM") for name, p in (("web", web), ("worker", worker))}
        print(f"corpus: {len(corpus())} file inputs, {len(requests())} request bodies; sent in {sent:.0f} s")
        print("answers:", dict(sorted(answers.items())))
        print("predictions:", counts)
        for name in ("web", "worker"):
            print(
                f"{name}: RSS after start-up {start[name] / 1024:.0f} MiB, peak (VmHWM) {peak[name] / 1024:.0f} MiB"
            )
    finally:
        for proc in (web, worker):
            proc.terminate()
            proc.wait(timeout=60)
        if not args.keep:
            subprocess.run(["rm", "-rf", str(var)], check=False)
        else:
            print("var folder:", var)


if __name__ == "__main__":
    main()
