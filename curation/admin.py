"""Admin of the curation app; each part registers its models in its own module."""

from curation import admin_examples, admin_snapshots  # noqa: F401  (Example; Snapshot)
