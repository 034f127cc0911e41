from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "REST API"

    def ready(self) -> None:
        from api import (
            receivers,  # noqa: F401  (case events become webhook deliveries)
            schema,  # noqa: F401  (registers the OpenAPI extension of the token authentication)
        )
