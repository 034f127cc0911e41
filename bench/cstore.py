"""C-STORE receive rate of the DICOM listener against a bare pynetdicom SCP and dcmtk's storescp.

    .venv/bin/python bench/cstore.py [--instances 200] [--rounds 5] [--source dicom/...]
        [--database-url postgres://...] [--broker-url redis://127.0.0.1:6379/4]

The same real files (``bench/dicom_study.py``: a real series from the sample
data repeated with fresh UIDs to ``--instances`` instances of one study) are
sent by one pynetdicom SCU, over one association, to three receivers on this
machine, each in its own process:

- ``listener``: the real ``manage.py dicom_listener`` on a throw-away
  PostgreSQL database (default ``oncoportal_bench_cstore``, created and
  emptied first), which spools each instance before answering it;
- ``bare``: a pynetdicom SCP with the same presentation contexts that only
  writes each dataset to a file (this script with ``--bare-scp``);
- ``storescp``: dcmtk's, writing files bit-preserving (``+B``), TCP_NODELAY=1.

Instances per second count from the first C-STORE request to the last
acknowledgement (association set-up and release left out). The receivers take
turns within each round (the order rotates from round to round), every round
with a new copy of the study; each row's median over the rounds is reported
with the ratios listener/bare and listener/storescp, and each round's own
ratios. After the listener's turn the script also times, from the release of
the association, until every instance is an Image row (ingested) and until
every image holds a queued prediction (queued; an active model version of the
brain MRI task is registered, and the copies say BodyPartExamined HEAD when
their source says nothing). The next receiver's turn starts only after that, so
the listener's intake never runs under another receiver's measurement.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any, cast

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.dicom_study import DEFAULT_SOURCE, send_study, source_files, study_copies  # noqa: E402
from bench.worklist import django_on_fresh_postgres  # noqa: E402

DEFAULT_URL = "postgres://postgres@localhost:5432/oncoportal_bench_cstore"
AE_TITLE = "ONCOBENCH"
SITE = "bench-dimse"
RECEIVERS = ("listener", "bare", "storescp")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[Any], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout:.0f} s")


def _read_port(proc: subprocess.Popen[str], prefix: str, what: str) -> int:
    """The port from the first stdout line ``<prefix>... port N, ...`` of a receiver."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith(prefix):
        proc.kill()
        raise RuntimeError(f"{what} did not start: {line.strip() or 'no output'} (see its log)")
    return int(line.split("port ")[1].split(",")[0])


def start_listener(env: dict[str, str], log: IO[str]) -> tuple[subprocess.Popen[str], int]:
    """``manage.py dicom_listener`` on a free loopback port, with ``env`` (database, site, var dir)."""
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "dicom_listener", "--port", "0", "--host", "127.0.0.1"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    return proc, _read_port(proc, "DICOM listener: ", "the listener")


def serve_bare(folder: Path) -> None:
    """The bare SCP: the listener's presentation contexts, each dataset written to a file, nothing else."""
    from pynetdicom import AE, evt

    from dimse.contexts import VERIFICATION, image_storage_classes, transfer_syntaxes

    folder.mkdir(parents=True, exist_ok=True)

    def on_store(event: evt.Event) -> int:
        sop_uid = str(event.request.AffectedSOPInstanceUID)  # type: ignore[union-attr]
        with open(folder / f"{sop_uid}.dcm", "wb") as fh:
            fh.write(event.encoded_dataset())
        return 0x0000

    ae = AE(ae_title=AE_TITLE)
    ae.maximum_pdu_size = 0  # as the listener
    syntaxes = transfer_syntaxes()
    for uid in image_storage_classes().values():
        ae.add_supported_context(uid, syntaxes)
    ae.add_supported_context(VERIFICATION)
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    assert server is not None  # block=False returns the server
    print(f"bare SCP: port {server.server_address[1]}, folder {folder}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        ae.shutdown()


def _start_bare(folder: Path, log: IO[str]) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--bare-scp", str(folder)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    return proc, _read_port(proc, "bare SCP: ", "the bare SCP")


def _start_storescp(folder: Path, log: IO[str]) -> tuple[subprocess.Popen[str], int]:
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc: subprocess.Popen[str] = subprocess.Popen(
        ["storescp", "-aet", AE_TITLE, "+xa", "+B", "--max-pdu", "131072", "-od", str(folder), str(port)],
        env={**os.environ, "TCP_NODELAY": "1"},
        stdout=log,
        stderr=log,
        text=True,
    )
    wait_for_port(port, proc, "storescp")
    return proc, port


def association_rows() -> int:
    from cases.models import AuditEvent

    return AuditEvent.objects.filter(action="dimse.association").count()


def wait_ingested(
    study_uid: str, count: int, since: float, audits_before: int, timeout: float = 600.0
) -> tuple[float, float]:
    """Seconds from ``since`` (monotonic) until ``count`` Image rows of the study exist, and until each
    holds a queued prediction; polls every 10 ms. Then waits for the association's audit row (more
    than ``audits_before``), written after its studies' intake, so the listener is idle on return."""
    from cases.models import Image
    from inference.models import Prediction

    images = Image.objects.filter(series__study__study_instance_uid=study_uid)
    deadline = since + timeout
    ingested: float | None = None
    while True:
        if time.monotonic() > deadline:
            raise RuntimeError(f"study {study_uid} not ingested and queued within {timeout:.0f} s")
        if ingested is None and images.count() >= count:
            ingested = time.monotonic() - since
        if ingested is not None:
            waiting = Prediction.objects.filter(image__in=images, status=Prediction.Status.QUEUED).count()
            if waiting >= count:
                queued = time.monotonic() - since
                break
        time.sleep(0.01)
    while association_rows() <= audits_before:
        if time.monotonic() > deadline:
            raise RuntimeError("the association's audit row was not written")
        time.sleep(0.01)
    return ingested, queued


def setup_bench_database(url: str, var: Path, script: str) -> bool:
    """A fresh database with the listener's site and an active brain MRI model version."""
    os.environ["ONCOPORTAL_VAR_DIR"] = str(var)
    if not django_on_fresh_postgres(url, script=script):
        return False
    from django.core.management import call_command

    from cases.models import Site
    from inference.models import ModelVersion

    print(f"migrating {url} ...", flush=True)
    call_command("migrate", verbosity=0)
    Site.objects.create(code=SITE, name="Bench DIMSE site")
    ModelVersion.objects.create(
        name="bench",
        version="1",
        task="brain_mri",
        arch="resnet10",
        bundle_path="-",
        weights_sha256="0" * 64,
        class_names=["glioma", "meningioma", "notumor", "pituitary"],
        card={},
        status="active",
    )
    return True


def listener_env(url: str, var: Path, broker: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "0",
        "ONCOPORTAL_VAR_DIR": str(var),
        "ONCOPORTAL_DICOM_AE_TITLE": AE_TITLE,
        "ONCOPORTAL_DICOM_SITE": SITE,
        "ONCOPORTAL_DICOM_ALLOWED": "",
        "CELERY_BROKER_URL": broker,
    }


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=200, help="instances of the study (default 200)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--source", default=DEFAULT_SOURCE, help=f"folder or file (default {DEFAULT_SOURCE})")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_CSTORE_DATABASE_URL", DEFAULT_URL))
    parser.add_argument(
        "--broker-url",
        default=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/4"),
        help="broker the listener queues predictions on; nothing consumes them (purged at the end)",
    )
    parser.add_argument("--bare-scp", type=Path, help=argparse.SUPPRESS)  # the bare receiver's own process
    args = parser.parse_args()
    if args.bare_scp is not None:
        serve_bare(args.bare_scp)
        return 0
    if shutil.which("storescp") is None:
        print("bench/cstore.py: dcmtk's storescp is not installed (apt-get install dcmtk)", file=sys.stderr)
        return 2
    try:
        sources = source_files(args.source)
    except FileNotFoundError as exc:
        print(f"bench/cstore.py: {exc}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="oncoportal-cstore-"))
    var = work / "var"
    if not setup_bench_database(args.database_url, var, "bench/cstore.py"):
        return 2
    log_path = work / "receivers.log"
    procs: list[subprocess.Popen[str]] = []
    rates: dict[str, list[float]] = {name: [] for name in RECEIVERS}
    ingest: list[tuple[float, float]] = []
    try:
        with open(log_path, "w") as log:
            listener, listener_port = start_listener(
                listener_env(args.database_url, var, args.broker_url), log
            )
            procs.append(listener)
            bare, bare_port = _start_bare(work / "bare", log)
            procs.append(bare)
            storescp, storescp_port = _start_storescp(work / "storescp", log)
            procs.append(storescp)
            ports = {"listener": listener_port, "bare": bare_port, "storescp": storescp_port}
            size = sum(p.stat().st_size for p in sources) / len(sources)
            print(
                f"{args.instances} instances a round from {args.source} ({len(sources)} file(s), "
                f"{size / 1024:.1f} KiB each on average); {args.rounds} rounds; logs in {log_path}",
                flush=True,
            )
            _send(None, sources, args, ports, rates, ingest, work)  # warm-up round, not counted
            for name in RECEIVERS:
                rates[name].clear()
            ingest.clear()
            for r in range(args.rounds):
                _send(r, sources, args, ports, rates, ingest, work)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        purge_broker(args.broker_url)
    _report(args, rates, ingest)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _send(
    r: int | None,
    sources: list[Path],
    args: argparse.Namespace,
    ports: dict[str, int],
    rates: dict[str, list[float]],
    ingest: list[tuple[float, float]],
    work: Path,
) -> None:
    folder = work / f"round-{'warm' if r is None else r}"
    # the warm-up round (imports, connections, first intake) sends a tenth of the study
    count = args.instances if r is not None else max(1, args.instances // 10)
    study_uid, files = study_copies(sources, count, folder)
    order = list(RECEIVERS[(r or 0) % 3 :] + RECEIVERS[: (r or 0) % 3])
    line = []
    for name in order:
        audits = association_rows()
        elapsed, released = send_study(ports[name], AE_TITLE, files)
        rates[name].append(len(files) / elapsed)
        line.append(f"{name} {len(files) / elapsed:7.1f}/s")
        if name == "listener":
            ingested, queued = wait_ingested(study_uid, len(files), released, audits)
            ingest.append((ingested, queued))
            line.append(f"(ingested {ingested:.2f} s, queued {queued:.2f} s)")
    shutil.rmtree(folder, ignore_errors=True)
    for sub in ("bare", "storescp"):
        for path in (work / sub).iterdir():
            path.unlink()
    print(f"round {'warm-up' if r is None else r + 1}: " + "  ".join(line), flush=True)


def purge_broker(broker: str) -> None:
    """Drop the prediction messages the bench's cases queued (no worker consumes them)."""
    try:
        from oncoportal.celery import app
        from oncoportal.celery_config import QUEUES

        with app.connection_for_write(broker) as conn:
            for name in QUEUES:
                cast(Any, conn.default_channel).queue_purge(name)  # kombu types the channel loosely
    except Exception as exc:  # the numbers stand; say what is left behind
        print(f"could not purge the queued bench messages from {broker}: {exc}", file=sys.stderr)


def _report(
    args: argparse.Namespace, rates: dict[str, list[float]], ingest: list[tuple[float, float]]
) -> None:
    med = {name: _median(values) for name, values in rates.items()}
    per_round_bare = [lst / b for lst, b in zip(rates["listener"], rates["bare"], strict=True)]
    per_round_dcmtk = [lst / s for lst, s in zip(rates["listener"], rates["storescp"], strict=True)]
    print(f"\n{'receiver':44}{'instances/s (median)':>22}{'rounds':>40}")
    labels = {
        "listener": "listener (manage.py dicom_listener, spool)",
        "bare": "bare pynetdicom SCP (writes files)",
        "storescp": "dcmtk storescp +B (TCP_NODELAY=1)",
    }
    for name in RECEIVERS:
        print(f"{labels[name]:44}{med[name]:22.1f}    {' '.join(f'{v:.0f}' for v in rates[name])}")
    print(
        f"\nlistener / bare: {med['listener'] / med['bare']:.2f}x (goal >= 0.8x); median of per-round ratios "
        f"{_median(per_round_bare):.2f}x\nlistener / storescp: {med['listener'] / med['storescp']:.2f}x; median "
        f"of per-round ratios {_median(per_round_dcmtk):.2f}x"
    )
    ingested = [i for i, _ in ingest]
    queued = [q for _, q in ingest]
    print(
        f"release -> ingested (all {args.instances} Image rows): median {_median(ingested):.2f} s "
        f"(rounds {', '.join(f'{v:.2f}' for v in ingested)}); -> queued: median {_median(queued):.2f} s "
        f"({args.instances / _median(queued):.1f} instances/s of intake)"
    )
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    raise SystemExit(main())
