"""Admin of the lifecycle app; each part registers its models in its own module."""

from lifecycle import admin_evaluations  # noqa: F401  (Evaluation)
