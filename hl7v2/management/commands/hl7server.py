"""`python manage.py hl7server`: the HL7 MLLP listener alone, in the foreground
(docker-compose runs it in its own container)."""

import logging

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from hl7v2 import listener
from worklist.management.commands.dicomserver import stop_signals, wait_until_set

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run the HL7 v2 MLLP listener (ADT, ORM/OMI in; ACK out) in the foreground."

    def add_arguments(self, parser):
        parser.add_argument("--host", help="address to listen on (default RIS_HL7_HOST)")
        parser.add_argument("--port", type=int, help="port to listen on (default RIS_HL7_PORT)")

    def handle(self, *args, **options):
        port = options["port"] if options["port"] is not None else settings.RIS_HL7_PORT
        if not port:
            raise CommandError("No port: set RIS_HL7_PORT (e.g. 2575) or pass --port.")
        with stop_signals() as stopping:
            server = listener.start(host=options["host"], port=port)
            host, port = server.server_address[:2]
            logger.info("HL7 listener on %s:%s", host, port)
            wait_until_set(stopping)
            logger.info("Stopping the HL7 listener")
            listener.stop(server)
