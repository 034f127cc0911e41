from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = "Cases and studies"

    def ready(self) -> None:
        # Logins and failed logins go to the audit trail.
        from cases.services import sign_in

        sign_in.connect()
