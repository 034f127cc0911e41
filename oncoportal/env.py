"""Strict environment parsing for settings.

Every helper raises ImproperlyConfigured naming the variable and what was wrong,
so a typo in a deployment fails at start-up with one readable line instead of
silently falling back to a default. Any value may instead be read from a file
named in ``<NAME>_FILE`` (Docker/Kubernetes secrets).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

_MISSING = object()
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str) -> str | None:
    file_var = f"{name}_FILE"
    if os.environ.get(file_var):
        path = Path(os.environ[file_var])
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{file_var}={path}: cannot read file ({exc.strerror})") from exc
    return os.environ.get(name)


def env_str(name: str, default: object = _MISSING) -> str:
    """A string; with no default the variable is required."""
    value = _raw(name)
    if value is None:
        if default is _MISSING:
            raise ImproperlyConfigured(f"{name} is required but not set")
        return default  # type: ignore[return-value]
    return value


def env_bool(name: str, default: bool = False) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r}: expected one of 1/0, true/false, yes/no, on/off")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r}: expected an integer") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number}: must be at least {minimum}")
    return number


def env_float(
    name: str, default: float, *, minimum: float | None = None, maximum: float | None = None
) -> float:
    """A finite number, within ``minimum`` and ``maximum`` when they are given."""
    value = _raw(name)
    if value is None:
        return default
    try:
        number = float(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r}: expected a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ImproperlyConfigured(f"{name}={value!r}: expected a finite number")
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number}: must be at least {minimum}")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name}={number}: must be at most {maximum}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


#: Fewest characters a production secret may have (a 32-byte random key in base64 has 43-44).
MIN_SECRET_CHARS = 32


def env_secret(
    name: str, *, min_chars: int = MIN_SECRET_CHARS, not_equal: dict[str, str] | None = None
) -> str:
    """A required production secret: set, long enough, not repeating a few characters, not another secret.

    ``not_equal`` names other secrets (name -> value) it must differ from, and
    the public development defaults it must not be.
    """
    value = env_str(name).strip()
    if len(value) < min_chars or len(set(value)) < 10:
        raise ImproperlyConfigured(
            f"{name} is too weak: use at least {min_chars} random characters "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    for other, other_value in (not_equal or {}).items():
        if value == other_value:
            raise ImproperlyConfigured(f"{name} must not be the same as {other}")
    return value


def env_hosts(name: str) -> list[str]:
    """ALLOWED_HOSTS for production: required, and no wildcard that accepts any Host header."""
    hosts = env_list(name, [])
    if not hosts:
        raise ImproperlyConfigured(f"{name} is required in production (comma-separated host names)")
    if "*" in hosts:
        raise ImproperlyConfigured(f"{name} must name the hosts: '*' accepts any Host header")
    return hosts


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r}: expected one of {', '.join(choices)}")
    return value


# Every SQLite database, the default one or one named by DATABASE_URL: the web server and
# the workers write concurrently, so WAL lets readers proceed, IMMEDIATE takes the write
# lock when a transaction starts (a deferred one that upgrades later fails at once with
# "database is locked" whatever the timeout), and a writer waits up to 30 s for another.
SQLITE_OPTIONS: dict[str, object] = {
    "timeout": 30,
    "transaction_mode": "IMMEDIATE",
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}


def database_from_url(url: str, *, conn_max_age: int = 60) -> dict[str, object]:
    """Parse ``postgres://user:pass@host:port/name?sslmode=require`` or ``sqlite:///path``."""
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme in {"postgres", "postgresql", "pgsql"}:
        name = unquote(parsed.path.lstrip("/"))
        if not name:
            raise ImproperlyConfigured(f"DATABASE_URL {url!r}: no database name after the host")
        options = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "CONN_MAX_AGE": conn_max_age,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
        }
    if scheme == "sqlite":
        if parsed.netloc:  # sqlite://relative/path is a common typo for sqlite:///
            raise ImproperlyConfigured(f"DATABASE_URL {url!r}: use sqlite:////absolute/path.db")
        # sqlite:////abs/x.db -> /abs/x.db ; sqlite:///rel/x.db -> rel/x.db
        path = unquote(parsed.path)[1:]
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": path or ":memory:",
            "OPTIONS": dict(SQLITE_OPTIONS),
        }
    raise ImproperlyConfigured(
        f"DATABASE_URL {url!r}: unsupported scheme {scheme!r} (use postgres:// or sqlite:///)"
    )


def env_seconds(name: str, default: list[str]) -> list[float]:
    """Comma-separated seconds (a retry schedule), none negative."""
    try:
        values = [float(item) for item in env_list(name, default)]
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected seconds, comma-separated") from None
    if any(value < 0 for value in values):
        raise ImproperlyConfigured(f"{name}: a wait cannot be negative")
    return values
