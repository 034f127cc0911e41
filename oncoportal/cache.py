"""The shared cache, which must not take the web down with it.

In production the cache is the broker's Redis (settings). What the platform keeps there is
short-lived and can be rebuilt: the task registry's rows (read from the table on a miss),
API throttle counters and failed-login counters. So while Redis is unreachable a read is a
miss and a write is dropped, with a warning in the log, instead of a 500 on every page
(issue 24's Redis-stop test: the upload page read the task menu through the cache). The
counters fail open while Redis is down: throttling and the failed-token lockout resume when
it is back. Timeouts keep a Redis that does not answer (a dropped route, not a refused
connection) from holding a request for the kernel's TCP timeout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds to wait for Redis to accept a connection, then for an answer.
CONNECT_TIMEOUT_S = 2.0
SOCKET_TIMEOUT_S = 5.0
# One warning per this many seconds while Redis is down, not one per call.
_WARN_EVERY_S = 30.0
_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError)


def redis_cache(url: str) -> dict[str, Any]:
    """The ``CACHES["default"]`` entry for a Redis at ``url``."""
    return {
        "BACKEND": "oncoportal.cache.RedisCache",
        "LOCATION": url,
        "OPTIONS": {"socket_connect_timeout": CONNECT_TIMEOUT_S, "socket_timeout": SOCKET_TIMEOUT_S},
    }


class RedisCache(DjangoRedisCache):
    """Django's Redis cache, where an unreachable Redis is a miss (reads) or a no-op (writes)."""

    _warned_at = 0.0

    def _degrade(self, call: Callable[[], T], fallback: T, what: str) -> T:
        try:
            return call()
        except _UNAVAILABLE as exc:
            now = time.monotonic()
            if now - RedisCache._warned_at > _WARN_EVERY_S:
                RedisCache._warned_at = now
                logger.warning("cache unavailable, %s skipped: %s", what, exc)
            return fallback

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._degrade(lambda: super(RedisCache, self).get(key, default, version), default, "get")

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        return self._degrade(lambda: super(RedisCache, self).get_many(keys, version), {}, "get_many")

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return self._degrade(lambda: super(RedisCache, self).has_key(key, version), False, "has_key")

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._degrade(lambda: super(RedisCache, self).add(key, value, timeout, version), False, "add")

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        self._degrade(lambda: super(RedisCache, self).set(key, value, timeout, version), None, "set")

    def set_many(
        self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        return self._degrade(
            lambda: super(RedisCache, self).set_many(data, timeout, version), list(data), "set_many"
        )

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._degrade(lambda: super(RedisCache, self).touch(key, timeout, version), False, "touch")

    def delete(self, key: Any, version: int | None = None) -> bool:
        return self._degrade(lambda: super(RedisCache, self).delete(key, version), False, "delete")

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        self._degrade(lambda: super(RedisCache, self).delete_many(keys, version), None, "delete_many")

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        # Callers treat a missing counter (ValueError) as "start one"; so is a missing Redis.
        try:
            return super().incr(key, delta, version)
        except _UNAVAILABLE as exc:
            raise ValueError(f"Key '{key}' not found (cache unavailable: {exc})") from exc

    def clear(self) -> None:
        self._degrade(lambda: super(RedisCache, self).clear(), None, "clear")
