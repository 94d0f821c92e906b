"""`manage.py dicomserver` as an operator runs it: a real process on the embedded
SQLite database file, answering several modalities at once on the plain port and
over TLS on the second one, and stopping cleanly on SIGTERM."""

import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import ModalityWorklistInformationFind

from .conftest import free_port

ROOT = Path(__file__).resolve().parent.parent.parent
SETUP = """
from datetime import timedelta
from tests import factories
factories.station("CT1", "CT")
start = factories.local(factories.future_day(), 8)
for n in range(20):
    factories.book(
        start=start + timedelta(minutes=15 * n),
        patient={"patient_id": f"P{n}", "patient_name": f"Patient^{n}"},
    )
"""


def manage(env, *args, timeout=120):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )


@pytest.fixture
def server_env(tmp_path, tls_files):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("RIS_") and k not in {"DATABASE_URL", "DEBUG", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="ris.settings",
        SECRET_KEY="dicomserver-test-secret",
        RIS_AUDIT_KEY="dicomserver-test-audit-key-0123456789",
        RIS_DATA_DIR=str(tmp_path / "data"),
        PYTHONUNBUFFERED="1",
        RIS_DICOM_TLS_CERT=str(tls_files / "server.crt"),
        RIS_DICOM_TLS_KEY=str(tls_files / "server.key"),
        RIS_DICOM_TLS_CA=str(tls_files / "ca.crt"),
    )
    manage(env, "migrate", "-v", "0")
    manage(env, "shell", "-c", SETUP)
    return env


@pytest.fixture(params=[1, 2], ids=["1 process", "2 processes"])
def dicomserver(server_env, request):
    """The listener in the command's own process (1), or in two listener processes
    sharing both ports (RIS_DICOM_PROCESSES, here --processes)."""
    ports = {"plain": free_port(), "tls": free_port()}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "dicomserver", "--port", str(ports["plain"])]
        + ["--tls-port", str(ports["tls"]), "--processes", str(request.param)],
        cwd=ROOT,
        env=server_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not all(listening(p) for p in ports.values()):
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < deadline, "dicomserver did not listen"
        time.sleep(0.2)
    yield process, ports
    if process.poll() is None:
        process.kill()
        process.wait()


def listening(port):
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def worklist_size(port, ssl_context=None) -> int:
    ae = AE(ae_title="CT1")
    ae.add_requested_context(ModalityWorklistInformationFind)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    tls_args = (ssl_context, "localhost") if ssl_context else None
    assoc = ae.associate("127.0.0.1", port, ae_title="RIS", tls_args=tls_args)
    assert assoc.is_established
    query = Dataset()
    query.PatientName = ""
    query.ScheduledProcedureStepSequence = [Dataset()]
    try:
        responses = list(assoc.send_c_find(query, ModalityWorklistInformationFind))
    finally:
        assoc.release()
    assert responses[-1][0].Status == 0x0000
    return len(responses) - 1


def client_context(tls_files):
    import ssl

    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(tls_files / "ca.crt"))
    context.load_cert_chain(str(tls_files / "client.crt"), str(tls_files / "client.key"))
    return context


def test_dicomserver_answers_modalities_at_once_on_both_ports_and_stops_on_sigterm(
    dicomserver, tls_files
):
    process, ports = dicomserver
    with ThreadPoolExecutor(max_workers=8) as pool:
        plain = list(pool.map(lambda _: worklist_size(ports["plain"]), range(16)))
        secure = list(
            pool.map(lambda _: worklist_size(ports["tls"], client_context(tls_files)), range(4))
        )
    assert plain == [20] * 16
    assert secure == [20] * 4

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    output = process.stdout.read()
    assert f"listening on 127.0.0.1:{ports['plain']}" in output
    assert f"DICOM over TLS listening on 127.0.0.1:{ports['tls']}" in output
    assert not listening(ports["plain"])
    assert not listening(ports["tls"])


def test_dicomserver_refuses_to_start_with_tls_but_no_certificate(server_env):
    env = dict(server_env, RIS_DICOM_TLS_CERT="/nonexistent/server.crt")
    result = subprocess.run(
        [sys.executable, "manage.py", "dicomserver", "--port", str(free_port())]
        + ["--tls-port", str(free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Cannot load the DICOM TLS certificates" in result.stderr
