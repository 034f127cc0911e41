"""API fixtures: tokens for any user and scopes, and clients that send them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from tests.api.webhook_support import Receiver


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    """Throttle and failed-sign-in counters live in the cache, which outlives a test's database."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def make_token(db) -> Callable[..., str]:
    """make_token(user, "read,upload", days=30, rate=None) -> the token's value."""
    from api.services.tokens import token_create

    def make(
        user, scopes: str = "read", *, days: float = 30, rate: int | None = None, name: str = "test"
    ) -> str:
        return token_create(
            user=user, name=name, scopes=scopes, expires_in=timedelta(days=days), rate_per_minute=rate
        ).value

    return make


@pytest.fixture
def token_client(make_token) -> Callable[..., object]:
    """token_client(user, scopes) -> an APIClient sending that user's new token."""
    from rest_framework.test import APIClient

    def make(user, scopes: str = "read", **kwargs) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user, scopes, **kwargs)}")
        return client

    return make


@pytest.fixture
def queued(mocker) -> list[int]:
    """The delivery ids queued for the worker (after commit), instead of a broker."""
    ids: list[int] = []
    mocker.patch("api.services.webhooks.deliver_webhook.delay", side_effect=ids.append)
    return ids


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(status: int = 200, gate: threading.Event | None = None) -> Receiver:
        made.append(Receiver(status, gate))
        return made[-1]

    yield make
    for r in made:
        r.close()
