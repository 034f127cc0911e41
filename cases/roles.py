"""Create the role groups with their permissions (idempotent). Used by a migration and `setup_roles`."""

from __future__ import annotations

from typing import Any

from cases.permissions import ROLE_PERMISSIONS


def sync_roles(apps: Any = None) -> None:
    """Make each role group hold exactly the permissions ROLE_PERMISSIONS gives it."""
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after migrate; make sure they exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for dotted in perms:
            app_label, codename = dotted.split(".")
            found = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            # Inside an early migration a later model's permissions do not exist
            # yet; the migration that adds the model syncs the roles again.
            if found is not None:
                wanted.append(found)
        group.permissions.set(wanted)
