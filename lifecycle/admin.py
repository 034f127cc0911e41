from lifecycle import admin_shadow  # noqa: F401
