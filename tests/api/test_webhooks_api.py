"""Webhooks through the REST API and the admin: subscribe, list, change, ping, delete; denials; the delivery log.

The delivery itself (signatures, retries, events, the worker) is tested in test_webhooks.py.
"""

from __future__ import annotations

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from api.models import WebhookDelivery, WebhookSubscription
from api.services.webhooks import webhook_ping
from cases.models import AuditEvent
from tests.api.test_webhooks import _subscribe


# --- The API ---------------------------------------------------------------------------------
def test_api_create_list_change_ping_and_delete(
    db, curator, site, token_client, queued, django_capture_on_commit_callbacks
):
    client = token_client(curator, "read,admin")
    made = client.post(
        reverse("api:webhook_list"),
        {
            "name": "RIS",
            "url": "https://ris.example.org/hooks",
            "events": ["review.completed"],
            "site": site.code,
        },
        format="json",
    )
    assert made.status_code == 201, made.json()
    body = made.json()
    assert body["secret"].startswith("whsec_") and body["site"] == site.code and body["state"] == "active"
    subscription = WebhookSubscription.objects.get(pk=body["id"])
    assert subscription.secret == body["secret"] and subscription.created_by == curator
    assert AuditEvent.objects.filter(action="webhook.created", source="api", actor=curator).exists()

    listed = client.get(reverse("api:webhook_list")).json()
    assert [s["id"] for s in listed["results"]] == [body["id"]]
    assert "secret" not in listed["results"][0]  # shown once only
    detail_url = reverse("api:webhook_detail", args=[body["id"]])
    assert "secret" not in client.get(detail_url).json()
    assert client.get(detail_url).json()["deliveries_url"].startswith("http://testserver/api/v1/webhooks/")

    changed = client.patch(detail_url, {"events": ["case.failed", "prediction.completed"]}, format="json")
    assert changed.status_code == 200 and changed.json()["events"] == ["prediction.completed", "case.failed"]
    bad = client.patch(detail_url, {"url": "ftp://ris.example.org/x"}, format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid"
    assert client.patch(detail_url, {"secret": "mine"}, format="json").status_code == 400  # unknown field
    assert client.patch(detail_url, {"events": ["case.deleted"]}, format="json").status_code == 400

    with django_capture_on_commit_callbacks(execute=True):
        pinged = client.post(reverse("api:webhook_ping", args=[body["id"]]))
    assert pinged.status_code == 202 and pinged.json()["event"] == "ping"
    assert queued == [pinged.json()["id"]]
    log = client.get(reverse("api:webhook_deliveries", args=[body["id"]])).json()
    assert [d["event_id"] for d in log["results"]] == [pinged.json()["event_id"]]
    assert log["results"][0]["status"] == "pending"

    assert client.patch(detail_url, {"is_active": False}, format="json").json()["state"] == "disabled"
    assert client.post(reverse("api:webhook_ping", args=[body["id"]])).status_code == 409

    assert client.delete(detail_url).status_code == 204
    assert not WebhookSubscription.objects.exists() and not WebhookDelivery.objects.exists()
    assert AuditEvent.objects.filter(action="webhook.deleted", source="api").exists()
    assert client.get(detail_url).status_code == 404


def test_api_refuses_a_non_http_url_and_empty_events(db, curator, token_client):
    client = token_client(curator, "admin")
    for body in (
        {"name": "x", "url": "ftp://ris.example.org/x", "events": ["review.completed"]},
        {"name": "x", "url": "https://ris.example.org/x", "events": []},
        {"name": " ", "url": "https://ris.example.org/x", "events": ["review.completed"]},
        {"name": "x", "url": "https://ris.example.org/x", "events": ["review.completed"], "site": "nowhere"},
    ):
        answer = client.post(reverse("api:webhook_list"), body, format="json")
        assert answer.status_code == 400, body
    assert not WebhookSubscription.objects.exists()


def test_api_denials(db, curator, radiologist, token_client):
    subscription = _subscribe("https://ris.example.org/all", by=curator)
    urls = [
        ("get", reverse("api:webhook_list")),
        ("post", reverse("api:webhook_list")),
        ("get", reverse("api:webhook_detail", args=[subscription.pk])),
        ("patch", reverse("api:webhook_detail", args=[subscription.pk])),
        ("delete", reverse("api:webhook_detail", args=[subscription.pk])),
        ("get", reverse("api:webhook_deliveries", args=[subscription.pk])),
        ("post", reverse("api:webhook_ping", args=[subscription.pk])),
    ]
    no_scope = token_client(curator, "read,upload,review")
    no_role = token_client(radiologist, "read,admin")
    for method, url in urls:
        answer = getattr(no_scope, method)(url, {}, format="json")
        assert answer.status_code == 403 and "'admin' scope" in answer.json()["message"], (method, url)
        answer = getattr(no_role, method)(url, {}, format="json")
        assert answer.status_code == 403 and answer.json()["message"] == "Only Curators manage webhooks."
        assert "ris.example.org" not in answer.content.decode()
    assert WebhookSubscription.objects.filter(pk=subscription.pk, is_active=True).exists()


# --- The admin -------------------------------------------------------------------------------
def test_admin_creates_with_the_secret_shown_once_lists_reasons_and_re_enables(db, curator, queued):
    client = Client()
    client.force_login(curator)
    answer = client.post(
        reverse("admin:api_webhooksubscription_add"),
        {"name": "RIS", "url": "https://ris.example.org/hooks", "events": ["review.completed"], "site": ""},
        follow=True,
    )
    assert answer.status_code == 200
    subscription = WebhookSubscription.objects.get()
    shown = [str(m) for m in answer.context["messages"]]
    assert any(subscription.secret in m and "not shown again" in m for m in shown)
    assert AuditEvent.objects.filter(action="webhook.created", source="web").exists()
    change_page = client.get(reverse("admin:api_webhooksubscription_change", args=[subscription.pk]))
    assert subscription.secret not in change_page.content.decode()

    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        is_active=False, failing_since=timezone.now(), disabled_reason="every delivery failed since then"
    )
    listing = client.get(reverse("admin:api_webhooksubscription_changelist"))
    assert "every delivery failed since then" in listing.content.decode()
    client.post(
        reverse("admin:api_webhooksubscription_changelist"),
        {"action": "re_enable", "_selected_action": [subscription.pk]},
    )
    subscription.refresh_from_db()
    assert (
        subscription.is_active and subscription.failing_since is None and subscription.disabled_reason == ""
    )

    webhook_ping(subscription=subscription, by=curator)
    log = client.get(reverse("admin:api_webhookdelivery_changelist"), {"status__exact": "pending"})
    assert log.status_code == 200 and "ping" in log.content.decode()
