from django.apps import AppConfig


class Hl7Config(AppConfig):
    # The package is hl7v2: `hl7` is the import name of python-hl7, the parser used.
    # The label stays "hl7" (tables, permissions, task names, URL namespace).
    name = "hl7v2"
    label = "hl7"
    verbose_name = "HL7 interface"

    def ready(self):
        from . import signals  # noqa: F401 - connects the outbox to order changes
