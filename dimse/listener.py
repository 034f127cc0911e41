"""The Storage SCP: C-ECHO and C-STORE, spool first, whole studies handed to ``ingest`` later.

Threads: pynetdicom runs each association in its own thread, and those threads only
check access, write the spool and keep the books (``_lock``). One worker thread takes
closed studies from a queue and calls ``ingest`` for each, so a store is answered as
soon as its file is on disk, never after intake.

When a study closes (the log line names the rule):
- "association released" / "association aborted": the last open
  association that delivered instances of the study ended. An aborted association's
  instances are ingested too: each was acknowledged with Success, which tells the
  sender it is stored; a sender that sends them again adds nothing (intake deduplicates
  by SOP Instance UID). An instance cut off mid-transfer was never acknowledged nor
  spooled.
- "quiet for N s": no new instance of the study for the quiet time although an
  association that delivered it is still open (a long-lived association, or one of
  several parallel ones that hangs). Later instances of it form a new batch and are
  filed into the same case. It is also the safety net should an association end with
  neither event (pynetdicom raises EVT_ABORTED for a dropped connection too).
- "left in spool at start-up": files a previous run had acknowledged but not ingested.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, cast

from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.transport import ThreadedAssociationServer

from dimse.contexts import (
    STATUS_CANNOT_UNDERSTAND,
    STATUS_OUT_OF_RESOURCES,
    STATUS_SUCCESS,
    VERIFICATION,
    image_storage_classes,
    transfer_syntaxes,
)
from dimse.records import (
    AssociationSummary,
    Ingest,
    ListenerConfig,
    OnAssociation,
    StudyBatch,
    _PendingStudy,
    study_uid_of,
)
from dimse.spool import Spool, association_folder, valid_uid

logger = logging.getLogger("dimse.listener")
_STOP = object()


class DicomListener:
    def __init__(
        self,
        config: ListenerConfig,
        *,
        ingest: Ingest,
        on_association: OnAssociation | None = None,
        on_worker_exit: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.spool = Spool(config.spool_root, fsync=config.spool_fsync)
        self._ingest = ingest
        self._on_association = on_association
        self._on_worker_exit = on_worker_exit
        self._lock = threading.Lock()
        self._associations: dict[Association, AssociationSummary] = {}
        # Keyed by (site code, Study Instance UID): a study two peers send for two sites
        # is two batches, and intake refuses the one for the site that does not own it.
        self._pending: dict[tuple[str, str], _PendingStudy] = {}
        self._jobs: queue.Queue[object] = queue.Queue()
        self._outstanding = 0  # jobs queued or running (for idle())
        self._worker: threading.Thread | None = None
        self._server: ThreadedAssociationServer | None = None
        self.ae = self._build_ae()

    # --- lifecycle -------------------------------------------------------------

    def _build_ae(self) -> AE:
        ae = AE(ae_title=self.config.ae_title)
        ae.maximum_pdu_size = 0  # no limit: fewer, larger PDUs
        syntaxes = transfer_syntaxes()
        for uid in image_storage_classes().values():
            ae.add_supported_context(uid, syntaxes)
        ae.add_supported_context(VERIFICATION)
        return ae

    def start(self) -> None:
        """Queue what an earlier run left in the spool, start the worker, then listen."""
        leftovers = self.spool.leftovers()
        for (site, study_uid), files in leftovers.items():
            self._enqueue(StudyBatch(study_uid, tuple(files), "left in spool at start-up", site))
        if leftovers:
            logger.info("spool: %d study(ies) left by an earlier run, ingesting", len(leftovers))
        self._worker = threading.Thread(target=self._work, name="dimse-ingest", daemon=True)
        self._worker.start()
        handlers: list[Any] = [
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_ACCEPTED, self._on_accepted),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_RELEASED, self._on_ended, ["association released"]),
            (evt.EVT_ABORTED, self._on_ended, ["association aborted"]),
        ]
        self._server = self.ae.start_server(
            (self.config.host, self.config.port), block=False, evt_handlers=handlers
        )
        logger.info(
            "DICOM listener %s on port %d; accepting %s; quiet time %g s; spool %s",
            self.config.ae_title,
            self.port,
            self.config.access.describe(),
            self.config.quiet_seconds,
            self.config.spool_root,
        )

    @property
    def port(self) -> int:
        if self._server is None:
            return self.config.port
        return int(self._server.server_address[1])

    def stop(self) -> None:
        """Stop listening (open associations are aborted and their studies closed), then drain the queue."""
        self.ae.shutdown()
        self._jobs.put(_STOP)
        if self._worker is not None:
            self._worker.join()
        logger.info("DICOM listener %s stopped", self.config.ae_title)

    def idle(self) -> bool:
        """Nothing queued, nothing being ingested, no study waiting to close (for tests and shutdown)."""
        with self._lock:
            return self._outstanding == 0 and not self._pending

    def _enqueue(self, job: StudyBatch | AssociationSummary) -> None:
        with self._lock:
            self._outstanding += 1
        self._jobs.put(job)

    # --- association threads ------------------------------------------------------

    def _on_requested(self, event: evt.Event) -> None:
        assoc = event.assoc
        calling_ae = str(assoc.requestor.primitive.calling_ae_title).strip()  # type: ignore[union-attr]
        host = assoc.requestor.address
        if self.config.access.allows(calling_ae, host):
            return
        logger.warning(
            "refused association from %r at %s: calling AE title not recognised (allowed: %s)",
            calling_ae,
            host,
            self.config.access.describe(),
        )
        # A-ASSOCIATE-RJ: rejected-permanent, DUL service-user, calling AE title not recognised.
        assoc.acse.send_reject(0x01, 0x01, 0x03)
        assoc.is_rejected = True
        assoc.kill()
        summary = AssociationSummary(
            key="", calling_ae=calling_ae, host=host, port=assoc.requestor.port, ended="refused"
        )
        self._enqueue(summary)

    def _on_accepted(self, event: evt.Event) -> None:
        assoc = event.assoc
        key = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        calling_ae, host = str(assoc.requestor.ae_title).strip(), assoc.requestor.address
        summary = AssociationSummary(
            key=key,
            calling_ae=calling_ae,
            host=host,
            port=assoc.requestor.port,
            site=self.config.access.site_for(calling_ae, host),
        )
        with self._lock:
            self._associations[assoc] = summary
        logger.info(
            "association %s from %r at %s accepted (site %s)",
            key,
            summary.calling_ae,
            summary.host,
            summary.site or "default",
        )

    def _on_store(self, event: evt.Event) -> int:
        with self._lock:
            summary = self._associations.get(event.assoc)
        if summary is None:  # cannot happen after EVT_ACCEPTED; refuse rather than guess
            return STATUS_OUT_OF_RESOURCES
        request = cast(C_STORE, event.request)
        sop_uid = str(request.AffectedSOPInstanceUID or "").strip()
        encoded = event.encoded_dataset()
        study_uid = study_uid_of(encoded)
        if study_uid is None or not valid_uid(sop_uid):
            with self._lock:
                summary.failures += 1
            logger.warning(
                "association %s: instance %s refused (0xC000): not a readable dataset with a Study Instance UID",
                summary.key,
                sop_uid or "?",
            )
            return STATUS_CANNOT_UNDERSTAND
        try:
            path = self.spool.write(
                association_folder(summary.key, summary.site), study_uid, sop_uid, encoded
            )
        except OSError:
            with self._lock:
                summary.failures += 1
            logger.exception("association %s: spool write failed for %s (0xA700)", summary.key, sop_uid)
            return STATUS_OUT_OF_RESOURCES
        with self._lock:
            summary.instances += 1
            summary.studies.add(study_uid)
            study = self._pending.setdefault((summary.site, study_uid), _PendingStudy())
            study.files.append(path)
            study.open_associations.add(summary.key)
            study.last_instance_at = time.monotonic()
        return STATUS_SUCCESS

    def _on_ended(self, event: evt.Event, rule: str) -> None:
        with self._lock:
            summary = self._associations.pop(event.assoc, None)
            if summary is None:  # never accepted, or already ended
                return
            summary.ended = rule.removeprefix("association ")
            for study_uid in sorted(summary.studies):
                study = self._pending.get((summary.site, study_uid))
                if study is None:
                    continue  # already closed by the quiet rule
                study.open_associations.discard(summary.key)
                if not study.open_associations:
                    del self._pending[(summary.site, study_uid)]
                    summary.studies_closed.append(study_uid)
                    self._outstanding += 1
                    self._jobs.put(StudyBatch(study_uid, tuple(study.files), rule, summary.site))
            self._outstanding += 1
            self._jobs.put(summary)  # after its studies: the audit row follows their intake
        logger.info(
            "association %s from %r %s: %d instance(s), %d refused, %d study(ies) closed",
            summary.key,
            summary.calling_ae,
            summary.ended,
            summary.instances,
            summary.failures,
            len(summary.studies_closed),
        )

    # --- the worker thread ----------------------------------------------------------

    def _close_quiet_studies(self) -> None:
        now = time.monotonic()
        with self._lock:
            quiet = [
                key
                for key, study in self._pending.items()
                if now - study.last_instance_at >= self.config.quiet_seconds
            ]
            for site, study_uid in quiet:
                study = self._pending.pop((site, study_uid))
                self._outstanding += 1
                rule = f"quiet for {self.config.quiet_seconds:g} s"
                self._jobs.put(StudyBatch(study_uid, tuple(study.files), rule, site))

    def _work(self) -> None:
        tick = min(1.0, self.config.quiet_seconds / 4)
        try:
            while True:
                self._close_quiet_studies()
                try:
                    job = self._jobs.get(timeout=tick)
                except queue.Empty:
                    continue
                if job is _STOP:
                    if self._jobs.empty():
                        return
                    self._jobs.put(_STOP)  # jobs queued by the shutdown's aborts go first
                    continue
                try:
                    self._run(job)
                finally:
                    with self._lock:
                        self._outstanding -= 1
        finally:
            if self._on_worker_exit is not None:
                self._on_worker_exit()

    def _run(self, job: object) -> None:
        if isinstance(job, StudyBatch):
            self._ingest_batch(job)
        elif isinstance(job, AssociationSummary) and self._on_association is not None:
            try:
                self._on_association(job)
            except Exception:
                logger.exception("could not record association %s", job.key or job.calling_ae)

    def _ingest_batch(self, batch: StudyBatch) -> None:
        try:
            outcome = self._ingest(batch)
        except Exception:
            # Files stay in the spool: the next start-up ingests them.
            logger.exception(
                "study %s closed (%s): intake failed; %d file(s) kept in the spool for the next start",
                batch.study_uid,
                batch.rule,
                len(batch.files),
            )
            return
        self.spool.remove(list(batch.files))
        logger.info(
            "study %s closed (%s): %d instance(s): %d accepted, %d duplicate, %d rejected; case %s",
            batch.study_uid,
            batch.rule,
            len(batch.files),
            outcome.accepted,
            outcome.duplicates,
            outcome.rejected,
            ", ".join(str(c) for c in outcome.case_ids) or "none",
        )
