"""Orthanc as a real test peer: a private instance on loopback, driven through its REST API.

Orthanc (GPLv3) and its DICOMweb plugin (AGPLv3) are test peers only: Debian's
``orthanc`` and ``orthanc-dicomweb`` packages, started by the tests with a
private configuration (free ports, storage in a temporary folder, no remote
access), never shipped with the platform.

Its ``oncoportal`` modality (C-STORE to our listener) and ``oncoportal``
DICOMweb server (STOW/QIDO/WADO to our live server) are written into the
configuration file with placeholder addresses and pointed at the test's own
listener port and token with ``PUT /modalities/...`` and
``PUT /dicom-web/servers/...`` once those exist.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AE_TITLE = "ORTHANCTEST"
PEER_NAME = "oncoportal"  # the modality and the DICOMweb server, as Orthanc's REST API names them
_PLUGIN_DIRS = ("/usr/share/orthanc/plugins", "/usr/lib/orthanc")


def orthanc_binary() -> str | None:
    """``Orthanc`` on PATH or in /usr/sbin (Debian), or ``ONCOPORTAL_ORTHANC_BIN``."""
    configured = os.environ.get("ONCOPORTAL_ORTHANC_BIN", "")
    if configured:
        return configured if Path(configured).is_file() else None
    return shutil.which("Orthanc") or shutil.which("Orthanc", path="/usr/sbin:/usr/local/sbin")


def dicomweb_plugin() -> Path | None:
    """The DICOMweb plugin's shared library (Debian installs it under /usr/share/orthanc/plugins)."""
    configured = os.environ.get("ONCOPORTAL_ORTHANC_DICOMWEB_PLUGIN", "")
    if configured:
        return Path(configured) if Path(configured).is_file() else None
    for folder in _PLUGIN_DIRS:
        found = sorted(Path(folder).glob("libOrthancDicomWeb.so*")) if Path(folder).is_dir() else []
        if found:
            return found[0]
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OrthancError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"Orthanc answered HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


@dataclass
class Orthanc:
    url: str
    dicom_port: int
    storage: Path
    log: Path
    aet: str = AE_TITLE

    # --- REST ----------------------------------------------------------------------

    def request(
        self, method: str, path: str, body: bytes | dict[str, Any] | list[Any] | str | None = None
    ) -> bytes:
        data: bytes | None
        headers = {}
        if body is None:
            data = None
        elif isinstance(body, bytes):
            data, headers["Content-Type"] = body, "application/dicom"
        elif isinstance(body, str):
            data, headers["Content-Type"] = body.encode(), "text/plain"
        else:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return bytes(resp.read())
        except urllib.error.HTTPError as exc:
            raise OrthancError(exc.code, exc.read().decode(errors="replace")) from None

    def get(self, path: str) -> Any:
        return json.loads(self.request("GET", path))

    def post(self, path: str, body: bytes | dict[str, Any] | list[Any] | str) -> Any:
        answer = self.request("POST", path, body)
        return json.loads(answer) if answer.strip() else None

    def put(self, path: str, body: dict[str, Any]) -> None:
        self.request("PUT", path, body)

    # --- helpers ---------------------------------------------------------------------

    def upload(self, files: list[bytes]) -> str:
        """POST each instance; returns the Orthanc id of their (one) study."""
        studies = {self.post("/instances", data)["ParentStudy"] for data in files}
        assert len(studies) == 1, studies
        return studies.pop()

    def clear(self) -> None:
        for patient in self.get("/patients"):
            self.request("DELETE", f"/patients/{patient}")

    def find_instances(self, query: dict[str, str], level: str = "Instance") -> list[dict[str, Any]]:
        """``/tools/find`` with expanded answers."""
        return list(self.post("/tools/find", {"Level": level, "Query": query, "Expand": True}))

    def instance_file(self, instance_id: str) -> bytes:
        return self.request("GET", f"/instances/{instance_id}/file")

    def tags(self, instance_id: str) -> dict[str, Any]:
        return dict(self.get(f"/instances/{instance_id}/simplified-tags"))

    def point_modality(self, *, ae_title: str, port: int, host: str = "127.0.0.1") -> None:
        self.put(f"/modalities/{PEER_NAME}", {"AET": ae_title, "Host": host, "Port": port})

    def point_dicomweb(self, *, url: str, token: str) -> None:
        # ChunkedTransfers off: the platform refuses chunked request bodies (411) by design.
        self.put(
            f"/dicom-web/servers/{PEER_NAME}",
            {"Url": url, "HttpHeaders": {"Authorization": f"Bearer {token}"}, "ChunkedTransfers": False},
        )


def orthanc_config(folder: Path, *, http_port: int, dicom_port: int, plugin: Path) -> dict[str, Any]:
    """A private configuration: loopback HTTP, storage and index in ``folder``, our peer entries."""
    return {
        "Name": "OncoPortal test peer",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "storage"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": AE_TITLE,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "HttpServerEnabled": True,
        "DicomServerEnabled": True,
        "StorageCompression": False,
        "SaveJobs": False,
        "ConcurrentJobs": 1,
        "HttpTimeout": 60,
        "DicomScuTimeout": 30,
        # Orthanc keeps an SCU association open 5 s for reuse by default; the listener closes a
        # study when the association ends, so release at once.
        "DicomAssociationCloseDelay": 0,
        "DicomAlwaysAllowStore": True,
        "DicomCheckCalledAet": False,
        "Plugins": [str(plugin)],
        # Placeholders until a test points them at its listener / live server.
        "DicomModalities": {PEER_NAME: ["ONCOPORTAL", "127.0.0.1", 11112]},
        "DicomWeb": {
            "Enable": True,
            "Root": "/dicom-web/",
            "EnableWado": True,
            "Servers": {PEER_NAME: {"Url": "http://127.0.0.1:9/dicomweb/", "ChunkedTransfers": False}},
        },
    }


def orthanc_start(
    folder: Path, *, binary: str, plugin: Path, timeout: float = 60.0
) -> tuple[Orthanc, subprocess.Popen[bytes]]:
    """Start Orthanc on free loopback ports; returns the client and the process (call ``stop``)."""
    folder.mkdir(parents=True, exist_ok=True)
    http_port, dicom_port = free_port(), free_port()
    config = folder / "orthanc.json"
    config.write_text(
        json.dumps(
            orthanc_config(folder, http_port=http_port, dicom_port=dicom_port, plugin=plugin), indent=2
        )
    )
    log = folder / "orthanc.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([binary, str(config)], stdout=out, stderr=subprocess.STDOUT, cwd=folder)
    peer = Orthanc(
        url=f"http://127.0.0.1:{http_port}", dicom_port=dicom_port, storage=folder / "storage", log=log
    )
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"Orthanc exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            system = peer.get("/system")
            plugins = peer.get("/plugins")
            break
        except (OSError, OrthancError):
            if time.monotonic() > deadline:
                orthanc_stop(proc)
                raise RuntimeError(f"Orthanc did not answer /system:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.1)
    if "dicom-web" not in plugins or system.get("DicomAet") != AE_TITLE:
        orthanc_stop(proc)
        raise RuntimeError(f"Orthanc started without its DICOMweb plugin: {plugins}")
    return peer, proc


def orthanc_stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)
