"""Peak memory of decompression bombs, with and without the fix (issue 24 items 1 and 6).

    .venv/bin/python bench/bombs.py [--size 10000] [--zip-entry-mib 64] [--before d624758]

Builds the bombs of ``tests/oncocore/imaging/bombs.py`` once (a JPEG-LS file
whose header says 64 x 64 around a ``--size`` x ``--size`` 16-bit codestream,
an RLE file whose segment pydicom's Python decoder would expand to 512 MiB,
a zip of 16 central-directory entries over one local entry of
``--zip-entry-mib``), then runs each case in a fresh Python process, once on
this tree and once on the tree of ``--before`` (extracted with ``git
archive``), and prints what the process's peak RSS grew by during the call (VmHWM,
reset through /proc/self/clear_refs just before, minus the RSS then), the wall time and the outcome:

- intake: ``prepare()`` (what the web upload, the CLI, the API, STOW-RS and
  DIMSE all run, in the web or listener process);
- viewer: ``dicom_frame_pixels()`` (the web process's frame endpoint);
- worker: ``dicom_model_input()`` (the inference worker's decoder);
- web request: ``POST /api/v1/studies/`` through Django's test client on a
  throw-away SQLite database (migrated first, outside the measurement);
- zip: ``expand_upload()`` of the overlapping zip, entries read and dropped.

The default ``--size`` of 10000 decodes to 191 MiB; the issue's 20000 costs
763 MiB per decode (and about 3 GiB to build, CharLS buffers its output).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.oncocore.imaging import bombs  # noqa: E402  (after the path is set)

# Each child prints one JSON line: {"grew_mib", "seconds", "outcome"}.
_CHILD_PREFIX = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
data = open(sys.argv[2], "rb").read()
"""
_CHILD_MEASURE = """
def status_kib(field):
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field + ":"))
# Reset the peak (VmHWM) so that importing, which peaks above what stays resident, does not count.
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
before = status_kib("VmRSS")
start = time.perf_counter()
try:
    outcome = run()
except Exception as exc:
    outcome = "refused: " + str(getattr(exc, "reason", exc))[:120]
seconds = time.perf_counter() - start
grew = (status_kib("VmHWM") - before) / 1024
print(json.dumps({"grew_mib": round(grew, 1), "seconds": round(seconds, 2), "outcome": outcome}))
"""
CASES = {
    "intake": """
from oncocore.imaging import DeidOptions, Limits, SourceFile, prepare
def run():
    p = prepare(SourceFile("bomb.dcm", data), limits=Limits(), deid=DeidOptions(), pseudonym_key=b"k")
    return f"accepted as {p.cols} x {p.rows}"
""",
    "viewer": """
from oncocore.imaging.pixels import dicom_frame_pixels
def run():
    return f"served {dicom_frame_pixels(data, frame=0).values.shape}"
""",
    "worker": """
from oncocore.decode import dicom_model_input
from oncocore.preprocessing import PreprocessSpec
def run():
    return f"model input {dicom_model_input(data, frame=None, spec=PreprocessSpec()).shape}"
""",
    "zip": """
from oncocore.imaging import Limits, SourceFile, expand_upload
def run():
    total = files = 0
    for item in expand_upload("bomb.zip", data, Limits()):
        if isinstance(item, SourceFile):
            files, total = files + 1, total + len(item.data)
        else:
            return f"refused: {item.reason[:120]}"
    return f"{files} files, {total / 2**20:.0f} MiB inflated"
""",
    "web request": """
import os, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oncoportal.settings")
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from datetime import timedelta
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient
from api.services.tokens import token_create
from cases.models import Image, Site, User
from cases.roles import sync_roles
sync_roles()
site = Site.objects.create(code="bench", name="Bench")
user = User.objects.create_user(username="rad", password="x-correct-horse", site=site)
user.groups.add(Group.objects.get(name="Radiologist"))
token = token_create(user=user, name="b", scopes="read,upload", expires_in=timedelta(days=1)).value
client = APIClient()
client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
def run():
    response = client.post("/api/v1/studies/", {"files": [SimpleUploadedFile("bomb.dcm", data)]})
    body = response.json()
    reason = next(iter(body.get("errors", {}).values()), [""])[0]
    return f"HTTP {response.status_code}, {Image.objects.count()} stored {reason[:90]}".strip()
""",
}


def _run(tree: Path, case: str, sample: Path, var_dir: Path) -> dict:
    code = _CHILD_PREFIX + CASES[case] + _CHILD_MEASURE
    env = {**os.environ, "PYTHONPATH": str(tree), "ONCOPORTAL_VAR_DIR": str(var_dir)}
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", code, str(tree), str(sample)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {
            "grew_mib": None,
            "seconds": None,
            "outcome": f"process died ({done.returncode}): {tail[:100]}",
        }
    return json.loads(lines[-1])


def _extract(rev: str, into: Path) -> Path:
    archive = into / "before.tar"
    with archive.open("wb") as fh:
        subprocess.run(["git", "archive", rev], cwd=REPO, stdout=fh, check=True)
    tree = into / "before"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    return tree


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=10_000, help="codestream side of the JPEG-LS bomb")
    parser.add_argument("--zip-entry-mib", type=int, default=64, help="inflated size of the zip's one entry")
    parser.add_argument("--before", default="d624758", help="the commit before the fix")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-bombs-") as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        samples = {
            "jpeg-ls": bombs.codestream_bomb("JPEG-LS 16-bit", stream=args.size),
            "rle": bombs.rle_bomb(expands_to=512 * 1024 * 1024, fallback=True),
            "zip": bombs.overlapping_zip(entry_bytes=args.zip_entry_mib * 1024 * 1024),
        }
        paths = {}
        for name, data in samples.items():
            paths[name] = work / name
            paths[name].write_bytes(data)
            print(f"{name}: {len(data):,} bytes", flush=True)
        print(f"(built in {time.perf_counter() - start:.0f} s)\n")
        trees = {"fixed": REPO, f"before ({args.before})": _extract(args.before, work)}
        plan = [
            ("jpeg-ls", "intake"),
            ("jpeg-ls", "viewer"),
            ("jpeg-ls", "worker"),
            ("jpeg-ls", "web request"),
            ("rle", "intake"),
            ("zip", "zip"),
        ]
        print("| bomb | path | tree | peak RSS growth | time | outcome |\n|---|---|---|---|---|---|")
        for sample, case in plan:
            for label, tree in trees.items():
                var_dir = work / f"var-{label.split()[0]}-{case.replace(' ', '-')}"
                result = _run(tree, case, paths[sample], var_dir)
                grew = "?" if result["grew_mib"] is None else f"{result['grew_mib']:.0f} MiB"
                took = "?" if result["seconds"] is None else f"{result['seconds']:.2f} s"
                print(f"| {sample} | {case} | {label} | {grew} | {took} | {result['outcome']} |", flush=True)


if __name__ == "__main__":
    main()
