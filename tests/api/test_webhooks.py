"""Webhooks: signed deliveries to a real local receiver, retries, disabling; then through a real Celery worker.

The receiver is a real HTTP server on loopback; signatures are checked with the
very snippet docs/webhooks.md gives integrators. Most tests call the delivery
function directly; the last ones deliver through a real Celery worker process. Events at
their moments: test_webhook_events.py. The API and the admin: test_webhooks_api.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from api.delivery import deliveries_sweep, delivery_attempt
from api.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from api.services.webhooks import webhook_ping
from cases.models import AuditEvent, Case
from inference.pipeline import predictions_run
from inference.services import prediction_request
from tests.api.webhook_support import (
    _subscribe,
    docs_verify_signature,
)
from tests.worker import redis_url, wait_for, worker_sharing_media


# --- Signing and delivery -------------------------------------------------------------------
def test_a_delivery_is_signed_as_the_docs_say_and_verified_by_their_snippet(db, receiver, curator, queued):
    verify = docs_verify_signature()
    hook = receiver()
    subscription = _subscribe(hook.url, by=curator)
    delivery = webhook_ping(subscription=subscription, by=curator)

    assert delivery_attempt(delivery_id=delivery.pk) is None
    ((headers, body),) = hook.requests
    assert verify(subscription.secret, body, headers["x-oncoportal-signature"])
    assert not verify(subscription.secret, body + b" ", headers["x-oncoportal-signature"])  # tampered body
    assert not verify("whsec_other", body, headers["x-oncoportal-signature"])
    t = int(headers["x-oncoportal-signature"].split(",")[0].removeprefix("t="))
    old = t - 600
    stale = (
        f"t={old},v1="
        + hmac.new(subscription.secret.encode(), f"{old}.".encode() + body, hashlib.sha256).hexdigest()
    )
    assert not verify(subscription.secret, body, stale)  # a replay from ten minutes ago
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "OncoPortal-Webhooks/1"
    assert headers["x-oncoportal-event"] == "ping"
    assert headers["x-oncoportal-delivery"] == str(delivery.event_id)
    assert json.loads(body)["id"] == str(delivery.event_id)

    delivery.refresh_from_db()
    subscription.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 1
    assert delivery.last_status_code == 200 and delivery.delivered_at and delivery.next_attempt_at is None
    assert subscription.last_success_at is not None and subscription.failing_since is None
    assert (
        delivery_attempt(delivery_id=delivery.pk) is None and len(hook.requests) == 1
    )  # done: not sent twice


def test_a_failing_receiver_is_retried_on_schedule_then_given_up_and_logged(
    db, receiver, curator, queued, settings
):
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 0]  # three attempts, no waiting
    hook = receiver(status=500)
    subscription = _subscribe(hook.url, by=curator)
    delivery = webhook_ping(subscription=subscription, by=curator)

    assert delivery_attempt(delivery_id=delivery.pk) == 0
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 1
    assert delivery.last_status_code == 500 and delivery.last_error == "HTTP 500: receiver is broken"
    subscription.refresh_from_db()
    assert subscription.failing_since is not None and subscription.is_active

    assert delivery_attempt(delivery_id=delivery.pk) == 0
    assert delivery_attempt(delivery_id=delivery.pk) is None  # the last attempt
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.GAVE_UP and delivery.attempts == 3
    assert delivery.next_attempt_at is None
    assert len(hook.requests) == 3
    assert {h["x-oncoportal-delivery"] for h, _ in hook.requests} == {str(delivery.event_id)}  # one event
    assert delivery_attempt(delivery_id=delivery.pk) is None and len(hook.requests) == 3


def test_the_default_schedule_waits_longer_each_time(db, receiver, curator, queued):
    hook = receiver(status=503)
    delivery = webhook_ping(subscription=_subscribe(hook.url, by=curator), by=curator)
    assert delivery_attempt(delivery_id=delivery.pk) == 30
    # Not due yet: a second message (or the sweeper) finds nothing to do.
    assert delivery_attempt(delivery_id=delivery.pk) is None and len(hook.requests) == 1
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert delivery_attempt(delivery_id=delivery.pk) == 120


def test_an_unreachable_receiver_is_an_error_not_a_crash(db, curator, queued, receiver):
    hook = receiver()
    url = hook.url
    hook.close()  # nothing listens there any more
    delivery = webhook_ping(subscription=_subscribe(url, by=curator), by=curator)
    assert delivery_attempt(delivery_id=delivery.pk) == 30
    delivery.refresh_from_db()
    assert delivery.last_status_code is None and delivery.last_error.startswith("cannot connect")


def test_a_subscription_failing_for_a_day_is_disabled_with_its_reason_and_audited(
    db, receiver, curator, queued, token_client
):
    hook = receiver(status=500)
    subscription = _subscribe(hook.url, by=curator)
    first = webhook_ping(subscription=subscription, by=curator)
    waiting = webhook_ping(subscription=subscription, by=curator)
    since = timezone.now() - timedelta(hours=25)
    WebhookSubscription.objects.filter(pk=subscription.pk).update(failing_since=since)

    assert delivery_attempt(delivery_id=first.pk) is None  # no retry: the subscription is off
    subscription.refresh_from_db()
    assert not subscription.is_active and subscription.disabled_at is not None
    assert subscription.disabled_reason == (
        f"every delivery failed since {since:%Y-%m-%d %H:%M} UTC; last error: HTTP 500: receiver is broken"
    )
    event = AuditEvent.objects.get(action="webhook.disabled", object_id=str(subscription.pk))
    assert event.source == "worker" and event.detail["reason"] == subscription.disabled_reason
    first.refresh_from_db()
    waiting.refresh_from_db()
    assert first.status == DeliveryStatus.GAVE_UP and first.last_error.startswith("HTTP 500")
    assert waiting.status == DeliveryStatus.GAVE_UP and "disabled" in waiting.last_error
    assert delivery_attempt(delivery_id=waiting.pk) is None and len(hook.requests) == 1

    # The Curator sees why, and re-enabling clears the record.
    client = token_client(curator, "admin")
    url = reverse("api:webhook_detail", args=[subscription.pk])
    shown = client.get(url).json()
    assert shown["is_active"] is False and shown["state"] == "disabled"
    assert shown["disabled_reason"] == subscription.disabled_reason
    enabled = client.patch(url, {"is_active": True}, format="json")
    assert enabled.status_code == 200
    assert enabled.json()["failing_since"] is None and enabled.json()["disabled_reason"] == ""
    assert enabled.json()["state"] == "active"
    assert AuditEvent.objects.filter(action="webhook.enabled", source="api").exists()


def test_the_sweeper_resends_overdue_deliveries_and_disables_stale_failures(
    db, curator, queued, mocker, django_capture_on_commit_callbacks
):
    send = mocker.patch("api.delivery.current_app.send_task")
    healthy = _subscribe("https://ris.example.org/a", by=curator)
    stale = _subscribe("https://ris.example.org/b", by=curator)
    overdue = webhook_ping(subscription=healthy, by=curator)
    fresh = webhook_ping(subscription=healthy, by=curator)
    WebhookDelivery.objects.filter(pk=overdue.pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=5)
    )
    WebhookSubscription.objects.filter(pk=stale.pk).update(failing_since=timezone.now() - timedelta(days=2))

    fresh_due = WebhookDelivery.objects.get(pk=fresh.pk).next_attempt_at
    swept_at = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_sweep(now=swept_at) == 1
    send.assert_called_once_with("api.tasks.deliver_webhook", args=[overdue.pk], countdown=None)
    stale.refresh_from_db()
    assert not stale.is_active and stale.disabled_reason.startswith("every delivery failed since")
    overdue.refresh_from_db()
    fresh.refresh_from_db()
    assert overdue.next_attempt_at == swept_at  # due again from the sweep: re-sent once, not every sweep
    assert fresh.next_attempt_at == fresh_due  # not overdue: not touched
    assert deliveries_sweep(now=swept_at) == 0


# --- Through a real worker -------------------------------------------------------------------
@pytest.fixture
def worker(django_db_serialized_rollback, transactional_db, settings, tmp_path, monkeypatch):
    # Serialized rollback: a flushed database would get new content type ids, and the later
    # serialized-rollback tests (browser) could not restore theirs on PostgreSQL.
    monkeypatch.setenv("ONCOPORTAL_WEBHOOK_RETRIES", "0.2,0.2")  # the worker's schedule: three quick attempts
    with worker_sharing_media(settings=settings, tmp_path=tmp_path, url=redis_url()) as proc:
        yield proc


@pytest.mark.services
@pytest.mark.slow
def test_a_slow_receiver_does_not_hold_the_review_request(
    worker, brain_case, random_model, curator, reviewer, receiver, mocker
):
    mocker.patch("inference.services.run_predictions.delay")
    ids = [p.pk for case in brain_case for p in prediction_request(case=case)]
    predictions_run(prediction_ids=ids)
    gate = threading.Event()
    hook = receiver(gate=gate)  # answers only once the test lets it
    subscription = _subscribe(hook.url, events=["review.completed"], by=curator)
    case = Case.objects.filter(pk__in=brain_case.values("pk")).order_by("created_at").first()
    image = case.images.get()

    client = Client()
    client.force_login(reviewer)
    answer = client.post(reverse("cases:review_submit", args=[case.pk, image.pk]), {"label": "pituitary"})
    # The request has returned while the receiver has not answered: the delivery is still open.
    assert answer.status_code == 302
    delivery = WebhookDelivery.objects.get(subscription=subscription)
    assert delivery.event == "review.completed" and delivery.status == DeliveryStatus.PENDING
    assert delivery.delivered_at is None
    gate.set()
    wait_for(
        lambda: WebhookDelivery.objects.get(pk=delivery.pk).status == DeliveryStatus.SUCCEEDED,
        what="the delivery to succeed",
        log_path=worker.log_path,
    )
    headers, body = hook.requests[-1]
    assert docs_verify_signature()(subscription.secret, body, headers["x-oncoportal-signature"])
    assert json.loads(body)["images"][0]["label"] == "pituitary"


@pytest.mark.services
@pytest.mark.slow
def test_a_failing_receiver_is_retried_by_the_worker_then_given_up(worker, curator, receiver):
    hook = receiver(status=500)
    subscription = _subscribe(hook.url, by=curator)
    delivery = webhook_ping(subscription=subscription, by=curator)  # queued on commit, to Redis
    wait_for(
        lambda: WebhookDelivery.objects.get(pk=delivery.pk).status == DeliveryStatus.GAVE_UP,
        what="the delivery to be given up",
        log_path=worker.log_path,
    )
    delivery.refresh_from_db()
    assert delivery.attempts == 3 and delivery.last_status_code == 500
    assert delivery.last_error == "HTTP 500: receiver is broken"
    assert len(hook.requests) == 3
    assert WebhookSubscription.objects.get(pk=subscription.pk).failing_since is not None
