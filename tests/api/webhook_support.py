"""A webhook receiver on loopback, the docs' signature check, and helpers shared by the webhook tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from api.models import WebhookSubscription
from api.services.webhooks import webhook_create
from cases.models import Case
from inference.pipeline import predictions_run
from inference.services import prediction_request

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
ALL_EVENTS = ["prediction.completed", "case.failed", "review.completed", "case.adjudicated"]


# --- A receiver on loopback, and the docs' signature check ---------------------------------
class Receiver:
    """An HTTP server on 127.0.0.1 that records each POST, answers ``status``, and may wait on ``gate`` first."""

    def __init__(self, status: int = 200, gate: threading.Event | None = None) -> None:
        self.status = status
        self.gate = gate
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                if receiver.gate is not None:
                    receiver.gate.wait(timeout=60)
                answer = b"ok" if receiver.status < 300 else b"receiver is broken"
                self.send_response(receiver.status)
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
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def close(self) -> None:
        if self.gate is not None:
            self.gate.set()
        self.server.shutdown()
        self.server.server_close()


def docs_verify_signature() -> Callable[..., bool]:
    """The ``verify_signature`` function of docs/webhooks.md, run as an integrator would paste it."""
    section = DOCS.read_text().split("## Verifying a signature", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOCS), "exec"), namespace)
    return namespace["verify_signature"]


def _subscribe(url: str, *, events: list[str] | None = None, site=None, by=None) -> WebhookSubscription:
    return webhook_create(name="RIS bridge", url=url, events=events or ALL_EVENTS, site=site, created_by=by)


def _predicted(cases, capture) -> list[Case]:
    """Predict each case with the untrained test model in this process (the queued task is not sent)."""
    ids = []
    for case in cases:
        with capture(execute=True):
            ids += [p.pk for p in prediction_request(case=case)]
    with capture(execute=True):
        predictions_run(prediction_ids=ids)
    return list(Case.objects.filter(pk__in=[c.pk for c in cases]).order_by("created_at"))
