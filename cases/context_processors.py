from typing import Any

from django.http import HttpRequest

from cases.models import Role
from cases.permissions import can_upload, can_use_ui, sees_all_sites


def roles(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    if not user.is_authenticated:
        return {}
    return {
        "can_upload": can_upload(user),
        "can_use_ui": can_use_ui(user),
        "is_curator": sees_all_sites(user),
        "can_adjudicate": user.has_perm("cases.adjudicate_case"),
        "user_roles": [r for r in Role.values if user.has_role(r)],
    }
