"""`manage.py runris` as an operator runs it: a real process on the embedded SQLite,
serving the web UI, static files and DICOM, and stopping cleanly on SIGTERM."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 60
SHUTDOWN_SECONDS = 15
# The test process's own configuration must not leak into the service under test.
DROPPED_VARIABLES = {
    "DEBUG",
    "SECRET_KEY",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "DJANGO_SETTINGS_MODULE",
    "ALLOWED_HOSTS",
}


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_open(port):
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def service_env(tmp_path, **variables):
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in DROPPED_VARIABLES and not name.startswith("RIS_")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="ris.settings",
        SECRET_KEY="runris-test-secret-not-for-production",
        RIS_AUDIT_KEY="runris-test-audit-key-not-for-production",
        RIS_DATA_DIR=str(tmp_path / "data"),
        PYTHONUNBUFFERED="1",
    )
    env.update(variables)
    return env


class Service:
    """A runris process with its output in a file, so a full pipe can never block it."""

    def __init__(self, tmp_path, *args, env, new_session=False):
        self.output_path = tmp_path / "runris.log"
        with open(self.output_path, "wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "runris", *args],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=new_session,  # a process group of its own, as a terminal's
            )

    @property
    def output(self):
        return self.output_path.read_text(errors="replace")

    def wait_until_healthy(self, http_port):
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"runris exited with {self.process.returncode}:\n{self.output}")
            try:
                if get(http_port, "/healthz") == 200:
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.25)
        pytest.fail(f"/healthz did not answer within {STARTUP_SECONDS} s:\n{self.output}")

    def terminate(self, *, whole_group=False):
        if whole_group:
            os.killpg(self.process.pid, signal.SIGTERM)
        else:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=SHUTDOWN_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"runris still running {SHUTDOWN_SECONDS} s after SIGTERM:\n{self.output}")

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def ports():
    return {"http": free_port(), "dicom": free_port()}


@pytest.fixture
def start_service(tmp_path, ports):
    started = []

    def start(*args, new_session=False, **variables):
        env = service_env(
            tmp_path,
            RIS_HTTP_PORT=str(ports["http"]),
            RIS_DICOM_PORT=str(ports["dicom"]),
            **variables,
        )
        service = Service(tmp_path, *args, env=env, new_session=new_session)
        started.append(service)
        return service

    yield start
    for service in started:
        service.kill()


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return response.status


def echo_status(port):
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
    assoc = ae.associate("127.0.0.1", port, ae_title="RIS")
    assert assoc.is_established
    try:
        return assoc.send_c_echo().Status
    finally:
        assoc.release()


def test_runris_serves_web_static_and_dicom_then_stops_on_sigterm(start_service, ports):
    service = start_service()
    service.wait_until_healthy(ports["http"])

    assert "python manage.py createsuperuser" in service.output
    assert "python manage.py drf_create_token USERNAME" in service.output
    assert echo_status(ports["dicom"]) == 0x0000
    assert get(ports["http"], "/static/admin/css/base.css") == 200

    assert service.terminate() == 0, service.output
    assert not port_is_open(ports["http"])
    assert not port_is_open(ports["dicom"])


def test_a_stop_signal_to_the_whole_process_group_stops_runris_without_a_restart(
    start_service, ports
):
    """Ctrl-C in a terminal, or a service manager stopping the unit's control group,
    signals every process at once: the DICOM listener's supervisor, gone with the
    rest, is not started again while the web server stops first."""
    service = start_service(new_session=True, RIS_DICOM_PROCESSES="2")
    service.wait_until_healthy(ports["http"])
    assert echo_status(ports["dicom"]) == 0x0000

    assert service.terminate(whole_group=True) == 0, service.output
    assert "starting another" not in service.output
    assert not port_is_open(ports["dicom"])


def test_runris_no_dicom_leaves_the_dicom_port_closed(start_service, ports):
    service = start_service("--no-dicom")
    service.wait_until_healthy(ports["http"])

    assert not port_is_open(ports["dicom"])

    assert service.terminate() == 0, service.output
    assert not port_is_open(ports["http"])


def test_runris_without_secret_key_and_debug_refuses_to_start(tmp_path):
    env = service_env(tmp_path)
    del env["SECRET_KEY"]
    result = subprocess.run(
        [sys.executable, "manage.py", "runris"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stdout + result.stderr
