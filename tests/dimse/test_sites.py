"""Per-AE sites: ``ONCOPORTAL_DICOM_ALLOWED`` entries ``AE=SITE`` send a peer's studies to that site."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from pydicom import dcmread

from cases.models import AuditEvent, Case, Study
from dimse.access import AccessPolicy, AllowedPeer
from dimse.ingest import listener_site, listener_sites
from oncocore.imaging.identity import identity_of
from results.models import Destination
from results.services.identity import study_identity_get
from tests.dimse.conftest import wait_until
from tests.dimse.test_listener import associate, spooled, store


# --- parsing (no database) ---------------------------------------------------------------------
def test_entries_parse_with_and_without_host_and_site() -> None:
    policy = AccessPolicy.parse(
        ["PACS", "CT1@10.0.0.5", "MR2=cc-oncology", " US3 @ 10.0.0.9 = uh_radiology "], open_when_empty=False
    )
    assert policy.peers == (
        AllowedPeer("PACS"),
        AllowedPeer("CT1", "10.0.0.5"),
        AllowedPeer("MR2", "", "cc-oncology"),
        AllowedPeer("US3", "10.0.0.9", "uh_radiology"),
    )
    assert policy.site_for("MR2", "1.2.3.4") == "cc-oncology"
    assert policy.site_for("US3", "10.0.0.9") == "uh_radiology"
    assert policy.site_for("US3", "10.0.0.8") == ""  # not allowed at all; no site either
    assert policy.site_for("PACS", "1.2.3.4") == ""  # the default site
    assert policy.site_codes() == {"cc-oncology", "uh_radiology"}
    assert policy.needs_default_site()
    assert "MR2=cc-oncology" in policy.describe()


def test_the_first_matching_entry_decides() -> None:
    policy = AccessPolicy.parse(["CT@10.0.0.5=site-a", "CT=site-b"], open_when_empty=False)
    assert policy.site_for("CT", "10.0.0.5") == "site-a"
    assert policy.site_for("CT", "10.0.0.6") == "site-b"
    assert not policy.needs_default_site()


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("PACS=", "a site code"),
        ("PACS=no spaces", "a site code"),
        ("PACS@=site", "a host is expected"),
        ("=site", "1 to 16 characters"),
        ("A\\B=site", "no backslash"),
    ],
)
def test_bad_entries_are_refused_with_the_reason(entry: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        AccessPolicy.parse([entry], open_when_empty=False)


# --- start-up checks ------------------------------------------------------------------------------
@pytest.mark.django_db
def test_an_unknown_site_code_stops_the_start_with_one_line(site, other_site, settings) -> None:
    policy = AccessPolicy.parse(["A=cc-oncology", "B=nowhere", "C=nowhere-else"], open_when_empty=False)
    with pytest.raises(
        ImproperlyConfigured, match=r"^ONCOPORTAL_DICOM_ALLOWED: no such site: nowhere, nowhere-else$"
    ):
        listener_sites(policy)
    settings.DICOM_ALLOWED = ["A=cc-oncology", "B=nowhere"]
    settings.DICOM_SITE = site.code
    with pytest.raises(CommandError, match="no such site: nowhere"):
        call_command("dicom_listener", "--port", "0")


@pytest.mark.django_db
def test_the_default_site_may_be_unset_only_when_every_entry_names_one(site) -> None:
    mapped = AccessPolicy.parse(["A=uh-radiology"], open_when_empty=False)
    assert listener_site("", mapped) is None
    assert listener_site(site.code, mapped) == site
    for policy in (AccessPolicy.parse(["A=uh-radiology", "B"], open_when_empty=False), None):
        with pytest.raises(ImproperlyConfigured, match="ONCOPORTAL_DICOM_SITE is required"):
            listener_site("", policy)


# --- a real association ----------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_each_peer_s_studies_go_to_its_site(start_listener, mr_series, site, other_site) -> None:
    listener = start_listener(allowed=["ONCOLOGY=cc-oncology", "PACS"])
    assoc = associate(listener.port, calling="ONCOLOGY")
    assert [store(assoc, path) for path in mr_series[:3]] == [0x0000] * 3
    assoc.release()
    wait_until(listener.idle, "the oncology peer's study")
    assert Study.objects.get().site == other_site
    assert Case.objects.get().site == other_site
    event = AuditEvent.objects.get(action="dimse.association")
    assert (event.site, event.detail["site"], event.detail["calling_ae"]) == (
        other_site,
        "cc-oncology",
        "ONCOLOGY",
    )

    # The same study from the default-site peer: intake refuses it, the study stays where it is.
    assoc = associate(listener.port, calling="PACS")
    assert [store(assoc, path) for path in mr_series[3:]] == [0x0000] * 4
    assoc.release()
    wait_until(listener.idle, "the default peer's batch")
    assert Study.objects.get().site == other_site and Case.objects.get().images.count() == 3
    refused = AuditEvent.objects.filter(action="intake.batch", site=site).get()
    assert refused.detail["rejected"] == 4


@pytest.mark.django_db(transaction=True)
def test_a_spool_left_at_start_up_goes_to_the_site_it_was_received_for(
    start_listener, mr_series, spool_root: Path, other_site
) -> None:
    study_uid = str(dcmread(mr_series[0]).StudyInstanceUID)
    folder = spool_root / "20250101T000000-deadbeef=cc-oncology" / study_uid
    folder.mkdir(parents=True)
    for path in mr_series:
        shutil.copy(path, folder / f"{dcmread(path).SOPInstanceUID}.dcm")
    listener = start_listener(allowed=["PACS"])  # the mapping has changed since: the spool still knows
    wait_until(listener.idle, "the left-over study")
    assert Case.objects.get().site == other_site and Case.objects.get().images.count() == 7
    assert spooled(spool_root) == []


@pytest.mark.django_db(transaction=True)
def test_dimse_keeps_the_identity_for_the_peer_s_site_destination(
    start_listener, mr_series, other_site
) -> None:
    Destination.objects.create(
        name="Oncology PACS", site=other_site, ae_title="ONCPACS", host="pacs", port=104
    )
    listener = start_listener(allowed=["ONCOLOGY=cc-oncology"])
    assoc = associate(listener.port, calling="ONCOLOGY")
    assert all(store(assoc, path) == 0 for path in mr_series)
    assoc.release()
    wait_until(listener.idle, "the study")
    expected = identity_of(dcmread(mr_series[0]))
    assert expected.get("PatientID")
    assert study_identity_get(study=Study.objects.get()) == expected
