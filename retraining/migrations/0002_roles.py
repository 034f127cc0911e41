from django.db import migrations


def sync_roles(apps, schema_editor):
    # The Curator role gains curation, snapshot and training job permissions (cases.permissions).
    from cases.roles import sync_roles as sync

    sync(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("retraining", "0001_initial"),
        ("curation", "0001_initial"),
        ("results", "0003_delivery_roles"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
