"""Admin of the lifecycle app: each part's module registers its own models (imported here)."""

from lifecycle import admin_models  # noqa: F401
