"""`python manage.py dicomserver`: the DICOM listener alone, in the foreground.

For deployments that run the web server and the DICOM listener as separate
processes (docker-compose runs `runris --no-dicom` next to this). With
RIS_DICOM_PROCESSES above 1 (the default on a machine of several cores) this process
supervises that many listener processes on the same ports
(worklist/dicom/processes.py).
"""

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management.base import BaseCommand

from worklist.dicom import listener

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_signals() -> Iterator[threading.Event]:
    """Turn SIGINT (Ctrl-C) and SIGTERM (docker stop, systemd) into an event the main
    thread waits on, so both end in the same clean shutdown and exit code 0 instead
    of a traceback or death by signal. Installed before servers start, so a signal
    that arrives while starting still stops cleanly."""
    stopping = threading.Event()

    def on_signal(signum, frame):
        stopping.set()

    previous = {signum: signal.signal(signum, on_signal) for signum in STOP_SIGNALS}
    try:
        yield stopping
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def wait_until_set(stopping: threading.Event) -> None:
    """Wake up regularly so the signal handler gets to run on the main thread."""
    while not stopping.wait(timeout=0.5):
        pass


def in_processes(server) -> str:
    count = getattr(server, "count", 1)
    return f" in {count} processes" if count > 1 else ""


class Command(BaseCommand):
    help = (
        "Run the DICOM listener (C-ECHO, Modality Worklist, MPPS) in the foreground, "
        "and DICOM over TLS on a second port when configured."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", help="address to listen on (default RIS_DICOM_HOST)")
        parser.add_argument("--port", type=int, help="port to listen on (default RIS_DICOM_PORT)")
        parser.add_argument("--ae-title", help="our AE title (default RIS_AE_TITLE)")
        parser.add_argument(
            "--tls-port",
            type=int,
            help="port for DICOM over TLS (default RIS_DICOM_TLS_PORT; 0: none)",
        )
        parser.add_argument(
            "--processes",
            type=int,
            help="listener processes sharing the ports (default RIS_DICOM_PROCESSES)",
        )

    def handle(self, *args, **options):
        with stop_signals() as stopping:
            server = listener.launch(
                count=options["processes"],
                host=options["host"],
                port=options["port"],
                ae_title=options["ae_title"],
                tls_port=options["tls_port"],
            )
            try:
                host, port = server.server_address[:2]
                logger.info(
                    "DICOM listener %s listening on %s:%s%s",
                    server.ae_title,
                    host,
                    port,
                    in_processes(server),
                )
                secure = listener.tls_server(server)
                if secure is not None:
                    host, port = secure.server_address[:2]
                    logger.info("DICOM over TLS listening on %s:%s", host, port)
                wait_until_set(stopping)
                logger.info("Stopping the DICOM listener")
            finally:
                # Listener processes too: this process would otherwise wait for them
                # on its way out.
                listener.stop(server)
