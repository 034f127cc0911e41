"""Who may open the web UI, and small request helpers the views share."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase

from cases.models import AuditSource, User
from cases.permissions import can_use_ui
from cases.services.audit import AuditContext

View = TypeVar("View", bound=Callable[..., HttpResponseBase])

NO_UI_MESSAGE = (
    "This account cannot use the web interface: it is an API-only integration account, "
    "or it has no role yet. Ask an administrator to give it the Radiologist, Reviewer or Curator role."
)


class AuthenticatedHttpRequest(HttpRequest):
    """The request a view behind ``ui_view`` gets: its user is signed in.

    For the type checker only (views still receive a plain HttpRequest):
    django-stubs types ``request.user`` as ``User | AnonymousUser`` and cannot
    see that LoginRequiredMiddleware and ``ui_view`` let only signed-in users in.
    """

    user: User


def ui_view(view: View) -> View:
    """Let through signed-in users with a UI role; 403 for integration and role-less accounts.

    LoginRequiredMiddleware already sends anonymous users to the login page;
    the redirect here keeps that true if the view is ever mounted without it.
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not can_use_ui(request.user):
            raise PermissionDenied(NO_UI_MESSAGE)
        return view(request, *args, **kwargs)

    return cast(View, wrapped)


def permission_view(
    permission: str, message: str, *, write_permission: str = "", write_message: str = ""
) -> Callable[[View], View]:
    """``ui_view`` plus a permission: 403 with ``message`` for anyone without it.

    With ``write_permission``, a request that changes something (not GET or
    HEAD) needs that one too, else 403 with ``write_message``: a Curator may look
    at the model pages, and only one who may promote models acts on them.
    """

    def decorate(view: View) -> View:
        @ui_view
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not request.user.has_perm(permission):
                raise PermissionDenied(message)
            writes = request.method not in ("GET", "HEAD")
            if write_permission and writes and not request.user.has_perm(write_permission):
                raise PermissionDenied(write_message)
            return view(request, *args, **kwargs)

        return cast(View, wrapped)

    return decorate


def wants_json(request: HttpRequest) -> bool:
    """True when the client (the upload script) asked for JSON rather than a page."""
    return "application/json" in request.headers.get("Accept", "")


def web_audit(request: HttpRequest) -> AuditContext:
    """The audit context of a web page's request: its user, address and browser."""
    return AuditContext.from_request(request, source=AuditSource.WEB)
