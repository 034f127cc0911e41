"""Who may open the web UI, and small request helpers the views share."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase

from cases.permissions import can_use_ui

View = TypeVar("View", bound=Callable[..., HttpResponseBase])

NO_UI_MESSAGE = (
    "This account cannot use the web interface: it is an API-only integration account, "
    "or it has no role yet. Ask an administrator to give it the Radiologist, Reviewer or Curator role."
)


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


def wants_json(request: HttpRequest) -> bool:
    """True when the client (the upload script) asked for JSON rather than a page."""
    return "application/json" in request.headers.get("Accept", "")
