from django.apps import AppConfig


class ResultsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "results"
    verbose_name = "Results to the PACS"

    def ready(self) -> None:
        # Identities kept at intake; a finished prediction or review builds and sends results.
        from results import receivers  # noqa: F401
