"""`python manage.py runris`: the whole RIS in one process, for a trial or a small site.

Migrations, static files, the web server (gunicorn) and the DICOM listener, stopped
cleanly by Ctrl-C or SIGTERM. Larger sites run the same pieces as separate processes
(`runris --no-dicom`, `dicomserver`, `celery -A ris worker`).
"""

import socket
import subprocess
import sys
import time
from contextlib import ExitStack

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from ris import inprocess
from worklist.dicom import listener
from worklist.management.commands.dicomserver import in_processes, stop_signals, wait_until_set

FIRST_USER_HINT = """\
No user exists yet. Create the first one (an administrator) with:
    python manage.py createsuperuser
and get an API token for it with:
    python manage.py drf_create_token USERNAME
"""


def prepare_database_and_static_files(*, verbosity: int) -> None:
    """Everything the web server needs before it serves: an up-to-date schema, and the
    static files in STATIC_ROOT, where WhiteNoise indexes them when the WSGI
    application loads (so this must come first)."""
    call_command("migrate", interactive=False, verbosity=verbosity)
    call_command("collectstatic", interactive=False, verbosity=0)


def print_first_user_hint(stdout) -> None:
    """A fresh install has nobody to log in as; say how to get started."""
    if not get_user_model().objects.exists():
        stdout.write(FIRST_USER_HINT)


# The longest path a Unix socket may have (sun_path, less the final NUL).
UNIX_SOCKET_PATH_MAX = 107


def runtime_files() -> dict:
    """Where the web server keeps its runtime files: under RIS_DATA_DIR/run, so two
    instances on one host (each with its own data directory) never share one.
    gunicorn >= 25.1 otherwise opens its control socket at
    ~/.gunicorn/gunicorn.ctl (or $XDG_RUNTIME_DIR/gunicorn.ctl) for every instance of
    the user. RIS_HTTP_CONTROL_SOCKET=0 goes without the socket (`gunicornc` then
    cannot reach the server); so does a data directory whose path is too long for one."""
    run = settings.DATA_DIR / "run"
    control = run / "gunicorn.ctl"
    wanted = settings.RIS_HTTP_CONTROL_SOCKET and len(str(control)) <= UNIX_SOCKET_PATH_MAX
    return {
        "directory": run,
        "pid": run / "gunicorn.pid",
        "control_socket": control if wanted else None,
        "worker_tmp_dir": run,
    }


def web_server_command(*, host: str, port: int, workers: int, threads: int) -> list[str]:
    files = runtime_files()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "ris.wsgi:application",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--graceful-timeout",
        "10",
        "--pid",
        str(files["pid"]),
        "--worker-tmp-dir",
        str(files["worker_tmp_dir"]),
    ]
    if files["control_socket"] is None:
        command.append("--no-control-socket")
    else:
        command += ["--control-socket", str(files["control_socket"])]
    return command


def start_web_server(*, host: str, port: int, workers: int, threads: int) -> subprocess.Popen:
    """gunicorn as a child process: several worker processes, so the web server uses
    every core (one Python process is held to one by the GIL)."""
    command = web_server_command(host=host, port=port, workers=workers, threads=threads)
    runtime_files()["directory"].mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(command, cwd=settings.BASE_DIR)  # noqa: S603
    wait_for_port(process, host, port)
    return process


def wait_for_port(process: subprocess.Popen, host: str, port: int, timeout: float = 60) -> None:
    """Return once the web server accepts connections; fail if it died (port taken)."""
    probe_host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CommandError(f"The web server exited with status {process.returncode}.")
        try:
            with socket.create_connection((probe_host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise CommandError(f"The web server did not listen on {host}:{port} within {timeout:.0f} s.")


def stop_web_server(process: subprocess.Popen) -> None:
    """SIGTERM is gunicorn's graceful stop: requests in progress finish (up to 10 s)."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def describe(stdout, *, http_port: int, dicom_server) -> None:
    """Where to point a browser, an API client and a modality, and where tasks run."""
    web_url = f"http://{settings.RIS_HTTP_HOST}:{http_port}/"
    stdout.write(f"Web UI:    {web_url}")
    stdout.write(f"API docs:  {web_url}api/docs/")
    if dicom_server is None:
        stdout.write("DICOM:     not started here (--no-dicom); run `manage.py dicomserver`")
    else:
        host, port = dicom_server.server_address[:2]
        where = f"{dicom_server.ae_title}@{host}:{port}{in_processes(dicom_server)}"
        stdout.write(f"DICOM:     {where}")
        secure = listener.tls_server(dicom_server)
        if secure is not None:
            host, port = secure.server_address[:2]
            stdout.write(f"DICOM TLS: {dicom_server.ae_title}@{host}:{port}")
    if settings.CELERY_TASK_ALWAYS_EAGER:
        stdout.write("Tasks:     run in-process, delayed and periodic too (no CELERY_BROKER_URL)")
    else:
        stdout.write("Tasks:     sent to the broker; run `celery -A ris worker`")
    stdout.write("Quit with CTRL-C.")


def start_dicom(options, running: ExitStack):
    """Started before the web server, so that once /healthz answers the whole
    service is up; RIS_DICOM_PROCESSES listener processes, or this one when 1. First
    of all: the listener processes are forked before this process has threads. With
    no broker, the tasks they ask for later come to this process's scheduler."""
    server = listener.launch(
        port=options["dicom_port"], forward_tasks=settings.CELERY_TASK_ALWAYS_EAGER
    )
    running.callback(listener.stop, server)
    return server


def start_hl7(running: ExitStack):
    """The HL7 MLLP listener, when RIS_HL7_PORT is set (off by default)."""
    if not settings.RIS_HL7_PORT:
        return None
    from hl7v2 import listener as hl7_listener

    server = hl7_listener.start()
    running.callback(hl7_listener.stop, server)
    return server


def start_tasks(running: ExitStack) -> None:
    """With no broker, delayed and periodic tasks run here (ris/inprocess.py): the
    studies' quiet period and sweeper, the PACS poll, the audit chain's upkeep."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        inprocess.start()
        running.callback(inprocess.stop)


def start_web(options, running: ExitStack) -> int:
    port = settings.RIS_HTTP_PORT if options["http_port"] is None else options["http_port"]
    web = start_web_server(
        host=settings.RIS_HTTP_HOST,
        port=port,
        workers=settings.RIS_HTTP_WORKERS,
        threads=settings.RIS_HTTP_THREADS,
    )
    running.callback(stop_web_server, web)
    return port


class Command(BaseCommand):
    help = "Run the whole RIS in one process: migrations, web server and DICOM listener."

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-dicom", action="store_true", help="do not start the DICOM listener"
        )
        parser.add_argument("--http-port", type=int, help="web port (default RIS_HTTP_PORT)")
        parser.add_argument("--dicom-port", type=int, help="DICOM port (default RIS_DICOM_PORT)")

    def handle(self, *args, **options):
        prepare_database_and_static_files(verbosity=options["verbosity"])
        print_first_user_hint(self.stdout)
        with stop_signals() as stopping, ExitStack() as running:
            # Whatever started is stopped on the way out, in reverse order, also when a
            # later start fails (e.g. the web port is taken).
            dicom_server = None if options["no_dicom"] else start_dicom(options, running)
            start_tasks(running)
            hl7_server = start_hl7(running)
            http_port = start_web(options, running)
            describe(self.stdout, http_port=http_port, dicom_server=dicom_server)
            if hl7_server is not None:
                host, port = hl7_server.server_address[:2]
                self.stdout.write(f"HL7:       MLLP on {host}:{port}")
            wait_until_set(stopping)
            self.stdout.write("Stopping.")
