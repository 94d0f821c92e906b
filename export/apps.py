from django.apps import AppConfig


class ExportConfig(AppConfig):
    name = "export"
    verbose_name = "De-identified exports"
