"""Bearer tokens for integrations; the browser's session works too (with DRF's CSRF check)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from api.models import ApiToken
from api.services.tokens import TokenRejected, token_authenticate

KEYWORDS = ("bearer", "token")
FAILURE_WINDOW_SECONDS = 60


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer onc_…`` → (the token's user, the ApiToken).

    Rejected tokens are counted per client address; past
    ONCOPORTAL_API_AUTH_FAILURES_PER_MINUTE the address gets 429 for a minute,
    which makes guessing tokens pointless.
    """

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0].lower() not in KEYWORDS:
            return None  # not ours: session authentication may still apply
        ip = request.META.get("REMOTE_ADDR") or None
        failures_key = f"api-auth-failures:{ip}"
        if (cache.get(failures_key) or 0) >= settings.API_AUTH_FAILURES_PER_MINUTE:
            raise exceptions.Throttled(wait=FAILURE_WINDOW_SECONDS)
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("the Authorization header is 'Bearer <token>'")
        try:
            token = token_authenticate(header[1], ip=ip)
        except TokenRejected as exc:
            cache.add(failures_key, 0, FAILURE_WINDOW_SECONDS)
            try:
                cache.incr(failures_key)
            except ValueError:  # expired between add and incr
                cache.set(failures_key, 1, FAILURE_WINDOW_SECONDS)
            raise exceptions.AuthenticationFailed(str(exc)) from None
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (with this challenge) rather than 403 to an anonymous call.
        return 'Bearer realm="oncoportal"'


class UnparsedBodySessionAuthentication(authentication.SessionAuthentication):
    """The browser's session, for views that read their request body themselves (DICOMweb's STOW-RS).

    DRF's CSRF check reads ``request.POST``; on a DRF request that runs the view's
    parsers, and a view with none (``parser_classes = []``) answered a session's
    multipart/related STOW-RS with 415 before its CSRF token was looked at. Django's
    own request parses only form bodies and leaves any other unread, so the check
    runs on it: the X-CSRFToken header decides, and the view still streams the body.
    """

    def enforce_csrf(self, request: Request) -> None:
        super().enforce_csrf(request._request)  # type: ignore[arg-type]  # on purpose: see above
