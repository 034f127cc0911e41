from django.apps import AppConfig


class CurationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "curation"
    verbose_name = "Curation and dataset snapshots"

    def ready(self) -> None:
        from curation import receivers  # noqa: F401  (connects the case_event listener)
