from django.db import migrations


def sync_roles(apps, schema_editor):
    # The Curator role gains the model lifecycle permissions (cases.permissions).
    from cases.roles import sync_roles as sync

    sync(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("lifecycle", "0001_initial"),
        ("retraining", "0003_trainingjob_phase"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
