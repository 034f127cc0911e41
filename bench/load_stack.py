"""bench/load.py's private stack: gunicorn and a Celery worker as process groups, and their memory."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def family(pid: int) -> list[int]:
    """The process and its descendants (gunicorn's workers, Celery's pool process)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        with contextlib.suppress(OSError):  # it ended meanwhile
            todo += [int(c) for c in Path(f"/proc/{current}/task/{current}/children").read_text().split()]
    return found


def sample_memory(
    procs: dict[str, subprocess.Popen[bytes]], peak_kib: dict[str, tuple[int, int]], stop: threading.Event
) -> None:
    """Every second, each process family's resident memory: the peak of its sum and of its largest process."""
    while not stop.wait(1.0):
        for name, proc in procs.items():
            sizes = [rss_kib(pid) for pid in family(proc.pid)]
            total, largest = peak_kib.get(name, (0, 0))
            peak_kib[name] = (max(total, sum(sizes)), max([largest, *sizes]))


def start_stack(args: argparse.Namespace, log_dir: Path, port: int) -> dict[str, subprocess.Popen[bytes]]:
    from oncoportal import celery_config

    def spawn(name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        log = (log_dir / f"{name}.log").open("wb")
        return subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    # Recent gunicorn opens a control socket at one fixed path in $HOME: two stacks would share it.
    from gunicorn.config import KNOWN_SETTINGS  # type: ignore[import-untyped]  # gunicorn ships no type hints

    own_socket = (
        ["--no-control-socket"] if any(s.name == "control_socket_disable" for s in KNOWN_SETTINGS) else []
    )
    return {
        "gunicorn": spawn("web", [
            sys.executable, "-m", "gunicorn", "oncoportal.wsgi:application", "--bind", f"127.0.0.1:{port}",
            "--workers", str(args.web_workers), "--timeout", "120", "--access-logfile", "-", *own_socket,
        ]),
        "celery": spawn("worker", [
            sys.executable, "-m", "celery", "-A", "oncoportal", "worker", "--concurrency", "1",
            "-Q", ",".join(celery_config.WORKERS["all"]), "--without-gossip", "--without-mingle",
            "--hostname", "load@%h", "--loglevel", "INFO",
        ]),
    }  # fmt: skip


def stop_stack(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs.values():
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
