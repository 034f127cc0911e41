"""Who may do what. Roles are Django groups holding the Case model's custom permissions."""

from __future__ import annotations

from typing import Any

from cases.models import Role, User

# Permissions per role, as data; the roles migration and `setup_roles` apply it.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.RADIOLOGIST: ["cases.upload_study", "cases.view_case", "cases.change_case"],
    Role.REVIEWER: ["cases.view_case", "cases.review_case"],
    Role.CURATOR: [
        "cases.upload_study",
        "cases.view_case",
        "cases.change_case",
        "cases.review_case",
        "cases.adjudicate_case",
        "cases.view_all_sites",
        "cases.view_auditevent",
        "cases.view_intakebatch",
        "cases.view_review",
        "cases.view_adjudication",
        "cases.view_reviewpolicy",
        "cases.add_reviewpolicy",
        "cases.change_reviewpolicy",
        # Task routing rules (docs/routing.md).
        "cases.view_routingrule",
        "cases.add_routingrule",
        "cases.change_routingrule",
        "cases.delete_routingrule",
        # Models (activate, retire, weights), API tokens and webhooks: the admin and the API.
        "inference.view_modelversion",
        "inference.change_modelversion",
        # Model lifecycle: compare, shadow, promote and roll back (lifecycle app).
        "lifecycle.promote_model",
        "lifecycle.view_evaluation",
        "lifecycle.view_shadowdeployment",
        "lifecycle.view_modelchange",
        "api.view_apitoken",
        "api.add_apitoken",
        "api.change_apitoken",
        "api.view_webhooksubscription",
        "api.add_webhooksubscription",
        "api.change_webhooksubscription",
        "api.delete_webhooksubscription",
        "api.view_webhookdelivery",
        # Result destinations (the PACS that gets results back) and which studies keep an identity.
        "results.view_destination",
        "results.add_destination",
        "results.change_destination",
        "results.delete_destination",
        "results.view_studyidentity",
        # Results to the PACS: the objects, their delivery logs, and Resend.
        "results.view_resultobject",
        "results.view_resultdelivery",
        "results.change_resultdelivery",
        # Curation and retraining: labelled images, snapshots (frozen, never changed) and training jobs.
        "curation.curate_dataset",
        "curation.view_example",
        "curation.change_example",
        "curation.view_snapshot",
        "curation.add_snapshot",
        "curation.view_snapshotitem",
        "retraining.view_trainingjob",
        "retraining.add_trainingjob",
        "retraining.change_trainingjob",
    ],
    Role.INTEGRATION: ["cases.use_api", "cases.upload_study", "cases.view_case"],
}

UI_ROLES = (Role.RADIOLOGIST, Role.REVIEWER, Role.CURATOR)


def can_use_ui(user: Any) -> bool:
    """Integration accounts are API-only; everyone else with a role uses the web UI."""
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return any(user.has_role(role) for role in UI_ROLES)


def can_upload(user: User) -> bool:
    return user.is_authenticated and user.has_perm("cases.upload_study")


def sees_all_sites(user: User) -> bool:
    return user.is_superuser or user.has_perm("cases.view_all_sites")
