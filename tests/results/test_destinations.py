"""Destinations: the Curator's admin form and the services behind it — checks, write-only secret, audit, test connection."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from pynetdicom import AE, evt

from cases.models import AuditEvent
from oncoportal.exceptions import InvalidInput
from results.identity import IdentityUnavailable
from results.models import Destination, StudyIdentity
from results.services.connection import destination_test
from results.services.destinations import (
    NO_KEY_MESSAGE,
    DestinationFields,
    destination_auth_headers,
    destination_check,
    destination_create,
    destination_delete,
    destination_secret,
    destination_update,
)

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-Pa55word-xyz"
DIMSE: dict[str, Any] = {
    "name": "Main PACS",
    "kind": "dimse",
    "ae_title": "MAINPACS",
    "host": "pacs.local",
    "port": 104,
}
STOW: dict[str, Any] = {
    "name": "Cloud PACS",
    "kind": "stow",
    "url": "https://pacs.example.org/dicom-web/",
    "auth": "basic",
    "username": "onco",
}


def _form(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "", "site": "", "kind": "dimse", "ae_title": "", "host": "", "port": "", "calling_ae_title": "",
        "url": "", "auth": "none", "username": "", "secret": "", "send_ai_results": "on",
        "send_review_results": "on", "is_active": "on",
    }  # fmt: skip
    data.update(overrides)
    return data


@pytest.fixture
def admin_client(curator) -> Client:
    client = Client()
    client.force_login(curator)
    return client


# --- checks ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "has_secret", "message"),
    [
        ({**DIMSE, "ae_title": ""}, False, "AE title: 1 to 16"),
        ({**DIMSE, "ae_title": "A" * 17}, False, "AE title: 1 to 16"),
        ({**DIMSE, "ae_title": "PA\\CS"}, False, "no backslash"),
        ({**DIMSE, "calling_ae_title": "X\\Y"}, False, "calling AE title"),
        ({**DIMSE, "host": " "}, False, "host"),
        ({**DIMSE, "port": None}, False, "port"),
        ({**DIMSE, "port": 70000}, False, "port"),
        ({**DIMSE, "auth": "basic"}, True, "STOW-RS destinations only"),
        ({**STOW, "url": ""}, True, "base URL"),
        ({**STOW, "url": "ftp://pacs/x"}, True, "http:// or https://"),
        ({**STOW, "username": ""}, True, "username and a password"),
        (STOW, False, "username and a password"),
        ({**STOW, "auth": "bearer"}, False, "needs a token"),
        ({**DIMSE, "name": "  "}, False, "name the destination"),
    ],
)
def test_bad_values_are_refused_with_the_reason(values, has_secret, message) -> None:
    with pytest.raises(InvalidInput, match=message):
        destination_check(DestinationFields(**values), has_secret=has_secret)


def test_no_destination_can_be_enabled_without_the_key(settings) -> None:
    settings.REID_KEY = ""
    with pytest.raises(InvalidInput, match="ONCOPORTAL_REID_KEY is not set"):
        destination_check(DestinationFields(**DIMSE), has_secret=False)
    assert (
        destination_check(DestinationFields(**DIMSE, is_active=False), has_secret=False).ae_title
        == "MAINPACS"
    )


# --- services: secret and audit ----------------------------------------------------------------
def test_the_secret_is_encrypted_write_only_and_never_audited(curator, site) -> None:
    destination = destination_create(
        values=DestinationFields(**STOW, site=site), secret=SECRET, created_by=curator
    )
    assert destination.url == "https://pacs.example.org/dicom-web"  # no trailing slash: <url>/studies
    assert destination.secret_encrypted and SECRET not in destination.secret_encrypted
    assert destination_secret(destination) == SECRET
    pair = base64.b64encode(f"onco:{SECRET}".encode()).decode()
    assert destination_auth_headers(destination) == {"Authorization": f"Basic {pair}"}

    # Changing other fields keeps the secret; a new one replaces it; the audit names neither.
    destination = destination_update(
        destination=destination, values=DestinationFields.of(destination), by=curator
    )
    assert destination_secret(destination) == SECRET
    values = DestinationFields.of(destination)
    values.auth = "bearer"
    destination = destination_update(
        destination=destination, values=values, secret="tok-123456789", by=curator
    )
    assert destination_auth_headers(destination) == {"Authorization": "Bearer tok-123456789"}
    events = AuditEvent.objects.filter(action__startswith="results.destination_").order_by("pk")
    assert [e.action for e in events] == ["results.destination_created", *["results.destination_updated"] * 2]
    assert events[2].detail["changed"] == {"auth": "bearer", "secret_changed": True}
    assert not [e for e in events if SECRET in str(e.detail) or "tok-123456789" in str(e.detail)]


def test_a_wrong_key_cannot_read_the_secret(curator, settings) -> None:
    destination = destination_create(values=DestinationFields(**STOW), secret=SECRET, created_by=curator)
    settings.REID_KEY = "a2V5LXRoYXQtaXMtbm90LXRoZS1vbmUtdXNlZC0wMDA="
    with pytest.raises(IdentityUnavailable):
        destination_secret(destination)


def test_names_are_unique(curator) -> None:
    destination_create(values=DestinationFields(**DIMSE), created_by=curator)
    with pytest.raises(InvalidInput, match="already exists"):
        destination_create(values=DestinationFields(**{**DIMSE, "name": "main pacs"}), created_by=curator)


def test_deleting_the_last_destination_of_a_site_forgets_its_identities(curator, site, other_site) -> None:
    from cases.models import Study

    mine = destination_create(values=DestinationFields(**DIMSE, site=site), created_by=curator)
    theirs = destination_create(
        values=DestinationFields(**{**DIMSE, "name": "Other"}, site=other_site), created_by=curator
    )
    studies = [
        Study.objects.create(site=s, study_instance_uid=f"1.2.3.{i}", modality="CT")
        for i, s in enumerate([site, other_site])
    ]
    for study in studies:
        StudyIdentity.objects.create(study=study, encrypted="token")
    assert destination_delete(destination=mine, by=curator) == 1
    assert list(StudyIdentity.objects.values_list("study__site", flat=True)) == [other_site.pk]
    values = DestinationFields.of(theirs)
    values.is_active = False
    destination_update(destination=theirs, values=values, by=curator)
    assert StudyIdentity.objects.count() == 1  # deactivating keeps them
    assert AuditEvent.objects.filter(action="results.identities_forgotten").get().detail["studies"] == 1


# --- the admin -----------------------------------------------------------------------------------
def test_a_curator_adds_a_destination_in_the_admin_and_the_secret_is_never_shown(admin_client, site) -> None:
    answer = admin_client.post(
        reverse("admin:results_destination_add"),
        _form(**{**STOW, "site": site.pk, "secret": SECRET}),
        follow=True,
    )
    assert answer.status_code == 200
    destination = Destination.objects.get()
    assert destination_secret(destination) == SECRET and destination.created_by is not None
    assert AuditEvent.objects.filter(action="results.destination_created", source="web").exists()
    page = admin_client.get(
        reverse("admin:results_destination_change", args=[destination.pk])
    ).content.decode()
    assert SECRET not in page and destination.secret_encrypted not in page
    assert "cannot be re-identified" in page  # the help says what cannot be recovered

    # Saving the change form with the password left empty keeps it.
    admin_client.post(
        reverse("admin:results_destination_change", args=[destination.pk]),
        _form(**{**STOW, "site": site.pk, "name": "Cloud PACS 2"}),
    )
    destination.refresh_from_db()
    assert destination.name == "Cloud PACS 2" and destination_secret(destination) == SECRET
    assert AuditEvent.objects.filter(action="results.destination_updated").count() == 1


@pytest.mark.parametrize(
    ("form", "error"),
    [
        (_form(**{**DIMSE, "ae_title": "BAD\\AE"}), "no backslash"),
        (_form(**{**DIMSE, "host": ""}), "host"),
        (_form(**{**STOW, "auth": "bearer"}), "needs a token"),
    ],
)
def test_the_admin_form_shows_the_reason(admin_client, form, error) -> None:
    answer = admin_client.post(reverse("admin:results_destination_add"), form)
    assert answer.status_code == 200 and error in answer.content.decode()
    assert (
        not Destination.objects.exists()
        and not AuditEvent.objects.filter(action__startswith="results.").exists()
    )


def test_the_admin_refuses_to_enable_without_the_key(admin_client, settings) -> None:
    settings.REID_KEY = ""
    answer = admin_client.post(reverse("admin:results_destination_add"), _form(**DIMSE))
    assert answer.status_code == 200 and "ONCOPORTAL_REID_KEY is not set" in answer.content.decode()
    assert NO_KEY_MESSAGE.startswith("ONCOPORTAL_REID_KEY is not set")
    assert not Destination.objects.exists()


def test_only_curators_manage_destinations(client, radiologist) -> None:
    client.force_login(radiologist)
    assert client.get(reverse("admin:results_destination_changelist")).status_code in (302, 403)


# --- test connection ------------------------------------------------------------------------------
@pytest.fixture
def echo_scp() -> Iterator[int]:
    """A real pynetdicom Verification SCP on a free loopback port."""
    ae = AE(ae_title="ECHOSCP")
    ae.add_supported_context("1.2.840.10008.1.1")
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_ECHO, lambda e: 0x0000)])
    assert server is not None
    yield int(server.server_address[1])
    server.shutdown()


@pytest.fixture
def qido_server() -> Iterator[str]:
    """A DICOMweb stand-in: GET /dicom-web/studies answers [] with the right Basic credentials, else 401."""
    expected = "Basic " + base64.b64encode(f"onco:{SECRET}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ok = self.path == "/dicom-web/studies?limit=1" and self.headers.get("Authorization") == expected
            body = b"[]" if ok else b""
            self.send_response(200 if ok else 401)
            self.send_header("Content-Type", "application/dicom+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/dicom-web"
    server.shutdown()


def test_test_connection_echoes_a_dimse_pacs(admin_client, curator, echo_scp) -> None:
    good = destination_create(
        values=DestinationFields(**{**DIMSE, "host": "127.0.0.1", "port": echo_scp, "ae_title": "ECHOSCP"}),
        created_by=curator,
    )
    assert destination_test(destination=good, by=curator).message.endswith("Success (0x0000)")
    answer = admin_client.post(
        reverse("admin:results_destination_changelist"),
        {"action": "test_connection", "_selected_action": [good.pk]},
        follow=True,
    )
    assert any("Success (0x0000)" in str(m) for m in answer.context["messages"])
    assert AuditEvent.objects.filter(action="results.destination_tested", detail__ok=True).count() == 2

    values = DestinationFields.of(good)
    values.port = 1  # nothing listens there
    closed = destination_update(destination=good, values=values, by=curator)
    outcome = destination_test(destination=closed, timeout=3)
    assert not outcome.ok and "no association" in outcome.message


def test_test_connection_queries_a_dicomweb_pacs_with_its_credentials(curator, qido_server) -> None:
    destination = destination_create(
        values=DestinationFields(**{**STOW, "url": qido_server}), secret=SECRET, created_by=curator
    )
    outcome = destination_test(destination=destination, by=curator)
    assert outcome.ok and outcome.message.endswith("HTTP 200")
    wrong = destination_update(
        destination=destination, values=DestinationFields.of(destination), secret="wrong-password", by=curator
    )
    outcome = destination_test(destination=wrong, by=curator)
    assert not outcome.ok and "HTTP 401 (check the credentials)" in outcome.message


def test_the_study_identity_admin_shows_which_studies_never_the_identity(admin_client, site) -> None:
    from cases.models import Study

    study = Study.objects.create(site=site, study_instance_uid="1.2.3.9", modality="CT")
    row = StudyIdentity.objects.create(study=study, encrypted="gAAAAA-token-never-shown")
    listing = admin_client.get(reverse("admin:results_studyidentity_changelist"))
    page = admin_client.get(reverse("admin:results_studyidentity_change", args=[row.pk]))
    assert listing.status_code == page.status_code == 200
    assert "token-never-shown" not in listing.content.decode() + page.content.decode()
    assert admin_client.get(reverse("admin:results_studyidentity_add")).status_code == 403
