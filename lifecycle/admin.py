"""Admin of the lifecycle app: each part's module registers its own models (imported here)."""

from lifecycle import (
    admin_evaluations,  # noqa: F401  (Evaluation)
    admin_models,  # noqa: F401  (ModelChange)
    admin_shadow,  # noqa: F401  (ShadowDeployment, ShadowPrediction)
)
