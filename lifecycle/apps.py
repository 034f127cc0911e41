from django.apps import AppConfig


class LifecycleConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "lifecycle"
    verbose_name = "Model lifecycle"

    def ready(self) -> None:
        from lifecycle import receivers  # noqa: F401  (connects the signal listeners)
