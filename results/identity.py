"""The encrypted study identity: kept only for a site with a result destination, read only to send.

The key is ``ONCOPORTAL_REID_KEY`` (a Fernet key: 32 random bytes, urlsafe
base64; ``python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"``).
Without it nothing identifying is kept and no destination can be enabled.
Decrypted values live only in memory, on the object being sent; they are
never written to the database, the storage or a log line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = ["IdentityUnavailable", "decrypt_json", "encrypt_json", "reid_configured"]


class IdentityUnavailable(Exception):
    """The key is missing or wrong, or the token was tampered with: nothing can be re-identified."""


def reid_configured() -> bool:
    return bool(settings.REID_KEY)


def _fernet() -> Fernet:
    if not settings.REID_KEY:
        raise IdentityUnavailable("ONCOPORTAL_REID_KEY is not set: results cannot be re-identified")
    try:
        return Fernet(settings.REID_KEY.encode())
    except ValueError as exc:
        raise ImproperlyConfigured(
            "ONCOPORTAL_REID_KEY must be a Fernet key (32 bytes, urlsafe base64)"
        ) from exc


def encrypt_json(value: Mapping[str, str]) -> str:
    """A Fernet token of ``value`` as JSON."""
    return _fernet().encrypt(json.dumps(dict(value), sort_keys=True).encode()).decode()


def decrypt_json(token: str) -> dict[str, str]:
    try:
        data = json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken as exc:
        raise IdentityUnavailable("the identity cannot be decrypted with ONCOPORTAL_REID_KEY") from exc
    if not isinstance(data, dict):
        raise IdentityUnavailable("the decrypted identity is not an object")
    return {str(k): str(v) for k, v in data.items()}
