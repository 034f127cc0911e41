from django.apps import AppConfig


class DimseConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dimse"
    verbose_name = "DICOM DIMSE listener"
