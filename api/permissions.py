"""Who may call an endpoint: a role, the token's scope for the action, and the role's permission.

A view names, per action, the scope it needs (``scopes``) and the Django
permission the account's role must hold (``permissions``). A signed-in
browser session has every scope: its role alone decides. Objects of another
site are not found (404) because every view reads through the selectors that
the web UI uses; this class answers 401 and 403 only, before any object is
looked up, so a denial never says whether an object exists.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from api.models import ApiToken, Scope
from cases.permissions import can_use_ui

NO_ROLE = "This account has no role; ask an administrator for one."


def granted_scopes(request: Request) -> set[str]:
    """The token's scopes, or every scope for a browser session (the role decides then)."""
    if isinstance(request.auth, ApiToken):
        return set(request.auth.scopes)
    return set(Scope.values)


def has_api_role(user: Any) -> bool:
    return bool(user.is_authenticated) and (can_use_ui(user) or user.has_perm("cases.use_api"))


def action_of(request: Request, view: Any) -> str:
    """The viewset action, or the HTTP method in lower case for a plain APIView."""
    return getattr(view, "action", None) or (request.method or "get").lower()


class ApiAccess(BasePermission):
    """Signed in with a role, the token holds the action's scope, and the role its permission."""

    message = "You may not do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False  # DRF turns this into 401 with the Bearer challenge
        if not has_api_role(user):
            self.message = NO_ROLE
            return False
        action = action_of(request, view)
        scope = getattr(view, "scopes", {}).get(action, Scope.READ)
        if scope not in granted_scopes(request):
            self.message = f"This token lacks the '{scope}' scope this call needs."
            return False
        needed = getattr(view, "permissions", {}).get(action)
        if needed and not user.has_perm(needed):
            self.message = getattr(view, "denied", {}).get(action) or "Your role may not do this."
            return False
        return True
