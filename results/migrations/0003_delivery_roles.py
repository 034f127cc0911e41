from django.db import migrations


def sync_roles(apps, schema_editor):
    # The Curator role gains the result objects' and deliveries' permissions (cases.permissions).
    from cases.roles import sync_roles as sync

    sync(apps)


class Migration(migrations.Migration):
    dependencies = [("results", "0002_roles")]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
