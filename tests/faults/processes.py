"""Private service processes a fault test may stop and start: never the machine's own.

``PrivateRedis`` is a ``redis-server`` on a free port with no persistence (what it holds is
lost when it stops, as a Redis without AOF loses it); ``PrivateCluster`` is a PostgreSQL
cluster made by ``initdb`` in a temporary folder and run by ``pg_ctl`` on a free port (as the
``postgres`` OS user when the test runs as root, which ``initdb`` and ``postgres`` refuse).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PG_BIN = Path(os.environ.get("ONCOPORTAL_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(predicate, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise RuntimeError(f"gave up waiting for {what}")


class PrivateRedis:
    """A redis-server of the test's own; ``stop()`` loses everything in it, ``start()`` comes back empty."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return bool(shutil.which("redis-server") and shutil.which("redis-cli"))

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = (self.folder / "redis.log").open("ab")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        _wait(self.ping, timeout=20, what=f"redis-server on port {self.port}")

    def ping(self) -> bool:
        return self._cli("ping").stdout.strip() == b"PONG"

    def stop(self) -> None:
        """``SHUTDOWN NOSAVE``: the queues go with it, as in a Redis without persistence."""
        if self.proc is None:
            return
        self._cli("shutdown", "nosave")
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def _cli(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], capture_output=True, timeout=10, check=False
        )


@contextmanager
def private_redis(folder: Path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(folder)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


class PrivateCluster:
    """A PostgreSQL cluster in a temporary folder on a free port, trusting local connections."""

    def __init__(self) -> None:
        self.port = free_port()
        # Not under pytest's tmp_path: that is root's own (mode 700) and the server runs as postgres.
        self.folder = Path(tempfile.mkdtemp(prefix="onco-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self._user = self._os_user()
        if self._user is not None:
            os.chown(self.folder, self._user.pw_uid, self._user.pw_gid)

    @staticmethod
    def available() -> bool:
        return all((PG_BIN / tool).exists() for tool in ("initdb", "pg_ctl", "postgres"))

    @staticmethod
    def _os_user() -> pwd.struct_passwd | None:
        """PostgreSQL refuses to run as root: then it runs as ``postgres``."""
        if os.geteuid() != 0:
            return None
        return pwd.getpwnam("postgres")

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, *cmd: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        def as_user() -> None:
            if self._user is not None:
                os.setgid(self._user.pw_gid)
                os.setuid(self._user.pw_uid)

        return subprocess.run(
            [str(c) for c in cmd],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
            preexec_fn=as_user,
            cwd=self.folder,
        )

    def init(self) -> None:
        self._run(
            PG_BIN / "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "--no-sync", "-E", "UTF8", "--locale=C",
        )  # fmt: skip

    def _options(self) -> str:
        # Unix socket in the cluster's own folder, fsync off: a test cluster, not a durable one.
        return f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60"

    def start(self) -> None:
        self._run(
            PG_BIN / "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-o", self._options(), "start"
        )

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every open connection is cut, the data kept."""
        self._run(
            PG_BIN / "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-m", "fast",
            "-o", self._options(), "restart",
        )  # fmt: skip

    def create_database(self, name: str) -> None:
        self._run(PG_BIN / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop``; ``fast`` cuts every open connection and keeps the data."""
        if (self.data / "postmaster.pid").exists():
            self._run(PG_BIN / "pg_ctl", "-D", str(self.data), "-w", "-m", mode, "stop")

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    cluster = PrivateCluster()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        try:
            cluster.stop("immediate")
        finally:
            cluster.remove()
