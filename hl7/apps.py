from django.apps import AppConfig


class Hl7Config(AppConfig):
    name = "hl7"
    verbose_name = "HL7 interface"

    def ready(self):
        from . import signals  # noqa: F401 - connects the outbox to order changes
