from django.apps import AppConfig


class ResultsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "results"
    verbose_name = "Results to the PACS"

    def ready(self) -> None:
        from results import (
            admin_deliveries,  # noqa: F401  (result objects and deliveries in the admin, with Resend)
            receivers,  # noqa: F401  (a finished prediction or review builds and sends results)
        )
