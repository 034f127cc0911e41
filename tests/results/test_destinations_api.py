"""/api/v1/destinations/: Curators add, list, change, test and delete destinations; the secret is write-only."""

from __future__ import annotations

import pytest

from cases.models import AuditEvent
from results.models import Destination
from results.services.destinations import destination_secret
from tests.results.test_destinations import SECRET, echo_scp  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db

URL = "/api/v1/destinations/"
STOW = {
    "name": "Cloud PACS",
    "kind": "stow",
    "url": "https://pacs.example.org/dicom-web",
    "auth": "basic",
    "username": "onco",
    "secret": SECRET,
    "site": "uh-radiology",
}


@pytest.fixture
def admin_api(curator, token_client):
    return token_client(curator, "read,admin")


def test_create_list_change_delete_and_the_secret_never_comes_back(admin_api, site) -> None:
    created = admin_api.post(URL, STOW, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret_set"] is True and "secret" not in body and SECRET not in created.content.decode()
    assert body["url"] == "https://pacs.example.org/dicom-web" and body["site"] == "uh-radiology"
    pk = body["id"]
    assert destination_secret(Destination.objects.get(pk=pk)) == SECRET

    listing = admin_api.get(URL).json()
    assert [d["id"] for d in listing["results"]] == [pk]

    renamed = admin_api.patch(f"{URL}{pk}/", {"name": "Cloud PACS 2"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["name"] == "Cloud PACS 2"
    assert destination_secret(Destination.objects.get(pk=pk)) == SECRET  # omitted: kept
    cleared = admin_api.patch(f"{URL}{pk}/", {"auth": "none", "secret": ""}, format="json")
    assert cleared.status_code == 200 and cleared.json()["secret_set"] is False

    assert admin_api.delete(f"{URL}{pk}/").status_code == 204
    assert not Destination.objects.exists()
    actions = list(
        AuditEvent.objects.filter(action__startswith="results.destination_")
        .order_by("pk")
        .values_list("action", "source")
    )
    assert actions == [
        ("results.destination_created", "api"),
        ("results.destination_updated", "api"),
        ("results.destination_updated", "api"),
        ("results.destination_deleted", "api"),
    ]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"name": "X", "kind": "dimse", "ae_title": "A\\B", "host": "h", "port": 104}, "no backslash"),
        ({"name": "X", "kind": "dimse", "ae_title": "PACS", "port": 104}, "host"),
        ({**STOW, "secret": ""}, "username and a password"),
        ({**STOW, "auth": "bearer", "secret": ""}, "needs a token"),
        ({"name": "X", "kind": "stow", "url": "ftp://x"}, "http:// or https://"),
    ],
)
def test_bad_values_are_400_with_the_reason(admin_api, site, body, reason) -> None:
    answer = admin_api.post(URL, body, format="json")
    assert answer.status_code == 400 and reason in answer.json()["message"], answer.content
    assert not Destination.objects.exists()


def test_enabling_without_the_key_is_400(admin_api, settings) -> None:
    settings.REID_KEY = ""
    answer = admin_api.post(URL, {"name": "X", "ae_title": "PACS", "host": "h", "port": 104}, format="json")
    assert answer.status_code == 400 and "ONCOPORTAL_REID_KEY is not set" in answer.json()["message"]


def test_the_test_call_echoes_the_pacs(admin_api, echo_scp) -> None:  # noqa: F811
    pk = admin_api.post(
        URL, {"name": "Echo", "ae_title": "ECHOSCP", "host": "127.0.0.1", "port": echo_scp}, format="json"
    ).json()["id"]
    answer = admin_api.post(f"{URL}{pk}/test/")
    assert answer.status_code == 200
    assert answer.json() == {
        "ok": True,
        "message": f"C-ECHO to ECHOSCP@127.0.0.1:{echo_scp}: Success (0x0000)",
    }


def test_only_curators_with_the_admin_scope(radiologist, curator, token_client) -> None:
    assert token_client(radiologist, "read,admin").get(URL).status_code == 403
    assert token_client(curator, "read").get(URL).status_code == 403
