"""`python manage.py hl7probe`: exit 0 when the HL7 listener accepts connections (the
container's healthcheck). It connects and closes: nothing is sent or logged."""

import socket

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Check that the HL7 MLLP listener accepts connections."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
        parser.add_argument("--port", type=int, help="port (default RIS_HL7_PORT)")

    def handle(self, *args, **options):
        port = options["port"] or settings.RIS_HL7_PORT
        try:
            socket.create_connection((options["host"], port), timeout=4).close()
        except OSError as exc:
            raise CommandError(f"HL7 listener on {options['host']}:{port}: {exc}") from exc
