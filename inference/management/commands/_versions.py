from django.core.management.base import CommandError

from inference.models import ModelVersion


def get_version(ref: str) -> ModelVersion:
    """A version by 'name@version', or by 'name' when it has exactly one version."""
    name, _, version = ref.partition("@")
    qs = ModelVersion.objects.filter(name=name)
    if version:
        qs = qs.filter(version=version)
    found = list(qs[:2])
    if not found:
        raise CommandError(f"no registered model {ref!r} (see `manage.py list_models`)")
    if len(found) > 1:
        raise CommandError(f"{ref!r} has several versions; write name@version")
    return found[0]
