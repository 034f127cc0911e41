from django.db import migrations


def sync_roles(apps, schema_editor):
    # The Curator role gains the API token and model permissions (cases.permissions).
    from cases.roles import sync_roles as sync

    sync(apps)


class Migration(migrations.Migration):
    dependencies = [("api", "0001_api_tokens"), ("inference", "0004_scored_result")]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
