"""The Django side of the listener: a closed study goes through intake, an association into the audit trail."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import close_old_connections, connections

from cases.models import AuditSource, IntakeBatch, Site
from cases.services.audit import AuditContext, audit_record
from cases.services.intake import intake_sources
from dimse.access import AccessPolicy
from dimse.records import AssociationSummary, IngestOutcome, ListenerConfig, StudyBatch

DIMSE_AUDIT = AuditContext.system(source=AuditSource.DIMSE)


def listener_config(*, port: int | None = None, host: str = "0.0.0.0") -> ListenerConfig:
    """The listener's settings; raises ImproperlyConfigured for a bad allowed-AE entry."""
    try:
        access = AccessPolicy.parse(settings.DICOM_ALLOWED, open_when_empty=not settings.PRODUCTION)
    except ValueError as exc:
        raise ImproperlyConfigured(f"ONCOPORTAL_DICOM_ALLOWED: {exc}") from None
    return ListenerConfig(
        ae_title=settings.DICOM_AE_TITLE,
        port=settings.DICOM_PORT if port is None else port,
        access=access,
        quiet_seconds=float(settings.DICOM_QUIET_SECONDS),
        spool_root=Path(settings.DICOM_SPOOL_DIR),
        host=host,
        spool_fsync=settings.DICOM_SPOOL_FSYNC,
    )


def listener_site(code: str, access: AccessPolicy | None = None) -> Site | None:
    """The default site of received studies; raises ImproperlyConfigured if unknown, or unset but needed.

    It may be left unset only when every ``ONCOPORTAL_DICOM_ALLOWED`` entry names
    its own site (``AE=SITE``); then None.
    """
    if not code:
        if access is not None and not access.needs_default_site():
            return None
        raise ImproperlyConfigured(
            "ONCOPORTAL_DICOM_SITE is required: the code of the site received studies belong to"
            " (unless every ONCOPORTAL_DICOM_ALLOWED entry names one: AE=SITE)"
        )
    site = Site.objects.filter(code=code).first()
    if site is None:
        raise ImproperlyConfigured(f"ONCOPORTAL_DICOM_SITE={code!r}: no such site")
    return site


def listener_sites(access: AccessPolicy) -> dict[str, Site]:
    """The sites the allowed-AE entries name, by code; raises ImproperlyConfigured for an unknown one."""
    codes = access.site_codes()
    sites = {site.code: site for site in Site.objects.filter(code__in=codes)}
    unknown = sorted(codes - set(sites))
    if unknown:
        raise ImproperlyConfigured(f"ONCOPORTAL_DICOM_ALLOWED: no such site: {', '.join(unknown)}")
    return sites


class StudyIngest:
    """Called on the listener's worker thread, which has its own database connection.

    ``site`` is the default site; ``sites`` those the allowed-AE entries name, by code.
    """

    def __init__(self, site: Site | None, sites: Mapping[str, Site] | None = None) -> None:
        self.site = site
        self.sites = dict(sites or {})

    def site_of(self, code: str) -> Site:
        """The site of a batch or association; a code unknown at start-up (left in the spool) is looked up."""
        if not code:
            if self.site is None:
                raise ImproperlyConfigured("no ONCOPORTAL_DICOM_SITE for a peer without a site of its own")
            return self.site
        if code not in self.sites:
            site = Site.objects.filter(code=code).first()
            if site is None:
                # Kept in the spool (the listener logs it) until the site exists again.
                raise ImproperlyConfigured(f"spooled study for site {code!r}: no such site")
            self.sites[code] = site
        return self.sites[code]

    def __call__(self, batch: StudyBatch) -> IngestOutcome:
        close_old_connections()
        report = intake_sources(
            uploads=_read(batch.files),
            site=self.site_of(batch.site),
            user=None,
            source=IntakeBatch.Source.DIMSE,
            audit=DIMSE_AUDIT,
        )
        return IngestOutcome(
            accepted=len(report.accepted),
            duplicates=len(report.duplicates),
            rejected=len(report.rejected),
            case_ids=tuple(report.case_ids),
        )

    def record_association(self, summary: AssociationSummary) -> None:
        close_old_connections()
        try:
            site: Site | None = self.site_of(summary.site)
        except ImproperlyConfigured:
            site = None
        audit_record(
            action="dimse.association_refused" if summary.ended == "refused" else "dimse.association",
            site=site,
            audit=DIMSE_AUDIT,
            detail={
                "association": summary.key,
                "calling_ae": summary.calling_ae,
                "host": summary.host,
                "port": summary.port,
                "site": site.code if site is not None else None,
                "ended": summary.ended,
                "instances": summary.instances,
                "refused_instances": summary.failures,
                "studies": len(summary.studies),
                "studies_closed": len(summary.studies_closed),
            },
        )

    @staticmethod
    def worker_exit() -> None:
        connections.close_all()


def _read(files: tuple[Path, ...]) -> Iterator[tuple[str, bytes]]:
    """One file at a time, so a large study is never all in memory."""
    for path in files:
        yield path.name, path.read_bytes()
