"""drf-spectacular's settings for the REST API's OpenAPI schema (imported by settings.py)."""

from typing import Any

SPECTACULAR_SETTINGS: dict[str, Any] = {
    "TITLE": "OncoPortal API",
    "DESCRIPTION": (
        "Upload studies, read cases with their AI predictions and saliency maps, post reviews, "
        "manage models and webhooks. Authenticate with `Authorization: Bearer <token>`; "
        "every error has the body {code, message, errors}."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One schema name per choice set that several fields share.
    "ENUM_NAME_OVERRIDES": {
        "CaseStatusEnum": "cases.models.case.CaseStatus",
        "ResultStatusEnum": "inference.models.ResultStatus",
        "DestinationKindEnum": "results.models.Destination.Kind",
        "DestinationAuthEnum": "results.models.Destination.Auth",
        "DeliveryStatusEnum": "api.models.webhooks.DeliveryStatus",
    },
}
