"""Real peers for sending tests: a pynetdicom storage SCP that writes what it receives, dcmtk's storescp,
and an HTTP server that records STOW-RS requests and answers as told."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pydicom
from pydicom.uid import (
    Comprehensive3DSRStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
)
from pynetdicom import AE, evt

STORED_CLASSES = (SecondaryCaptureImageStorage, Comprehensive3DSRStorage)


class StoreSCP:
    """A storage SCP on loopback: writes each received object to ``folder`` and answers ``status``.

    ``status`` may be changed between sends (0x0000, 0xB000, 0xA900...); ``accept_from``
    set to another AE title makes it reject every association (calling AE not recognised).
    """

    def __init__(self, folder: Path, *, ae_title: str = "PACS", classes: tuple[str, ...] = STORED_CLASSES):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.status = 0x0000
        self.associations = 0
        self.calling: list[str] = []
        self.ae = AE(ae_title=ae_title)
        for sop_class in classes:
            self.ae.add_supported_context(sop_class, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
        handlers: list[Any] = [(evt.EVT_C_STORE, self._store), (evt.EVT_ESTABLISHED, self._established)]
        server = self.ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
        assert server is not None  # non-blocking: the server is returned
        self.server = server
        self.port = self.server.server_address[1]
        self.ae_title = ae_title

    def refuse(self, refuse: bool = True) -> None:
        self.ae.require_calling_aet = ["NOT-YOU"] if refuse else []

    def _established(self, event: evt.Event) -> None:
        self.associations += 1
        self.calling.append(event.assoc.requestor.ae_title)

    def _store(self, event: evt.Event) -> int:
        if self.status & 0xF000 in (0xA000, 0xC000) or self.status in (0x0122, 0x0110):
            return self.status
        ds = event.dataset
        ds.file_meta = event.file_meta
        ds.save_as(self.folder / f"{ds.SOPInstanceUID}.dcm", enforce_file_format=True)
        return self.status

    def received(self) -> dict[str, pydicom.Dataset]:
        return {p.stem: pydicom.dcmread(p) for p in sorted(self.folder.glob("*.dcm"))}

    def close(self) -> None:
        self.server.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DcmtkStoreSCP:
    """dcmtk's ``storescp`` as a second, independent DIMSE peer (writes every object it accepts)."""

    def __init__(self, folder: Path, *, ae_title: str = "DCMTKPACS"):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.ae_title = ae_title
        env = {**os.environ, "TCP_NODELAY": "1"}
        self.proc = subprocess.Popen(
            ["storescp", "-aet", ae_title, "-od", str(folder), "+xa", str(self.port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"storescp exited: {self.proc.stdout.read() if self.proc.stdout else ''!r}"
                )
            time.sleep(0.1)
        raise RuntimeError("storescp did not start listening")

    def received(self) -> list[pydicom.Dataset]:
        return [pydicom.dcmread(p) for p in sorted(self.folder.iterdir()) if p.is_file()]

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def dcmtk_available() -> bool:
    return shutil.which("storescp") is not None


class StowRecorder:
    """An HTTP server that records each POST (headers, body) and answers ``status`` with ``body`` (a dict or bytes)."""

    def __init__(self, status: int = 200, body: Any = None):
        self.status = status
        self.body = body
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                recorder.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, data))
                body = recorder.body
                answer = json.dumps(body).encode() if isinstance(body, dict | list) else (body or b"")
                self.send_response(recorder.status)
                self.send_header("Content-Type", "application/dicom+json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/dicom-web"

    def parts(self, index: int = -1) -> list[pydicom.Dataset]:
        """The DICOM objects of one recorded multipart request."""
        from io import BytesIO

        _, headers, body = self.requests[index]
        boundary = headers["content-type"].split("boundary=", 1)[1].strip('"')
        found: list[pydicom.Dataset] = []
        for chunk in body.split(f"--{boundary}".encode())[1:]:
            if chunk.startswith(b"--"):
                break
            payload = chunk.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n", 1)[0]
            found.append(pydicom.dcmread(BytesIO(payload)))
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
