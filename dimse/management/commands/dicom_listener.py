"""Run the DICOM Storage SCP until Ctrl-C / SIGTERM (docs/dimse.md)."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dimse.ingest import StudyIngest, listener_config, listener_site, listener_sites
from dimse.listener import DicomListener


class Command(BaseCommand):
    help = "Receive studies by DICOM C-STORE (and answer C-ECHO); ingest each study when it is complete."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, help="overrides ONCOPORTAL_DICOM_PORT (0: any free port)")
        parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all)")
        parser.add_argument("--site", help="overrides ONCOPORTAL_DICOM_SITE")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            config = listener_config(port=options["port"], host=options["host"])
            site = listener_site(options["site"] or settings.DICOM_SITE, config.access)
            sites = listener_sites(config.access)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        ingest = StudyIngest(site, sites)
        listener = DicomListener(
            config,
            ingest=ingest,
            on_association=ingest.record_association,
            on_worker_exit=ingest.worker_exit,
        )
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        listener.start()
        self.stdout.write(
            f"DICOM listener: AE title {config.ae_title}, port {listener.port}, "
            f"site {site.code if site else '(per calling AE only)'}",
            ending="\n",
        )
        self.stdout.flush()
        stop.wait()
        listener.stop()
