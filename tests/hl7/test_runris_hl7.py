"""`runris` with RIS_HL7_PORT set: the HL7 listener runs in the same process tree,
answers a hospital system's message, and stops with the rest; off by default."""

from tests.hl7.conftest import ack_code, adt, send_all
from tests.test_runris import Service, free_port, port_is_open, service_env


def test_runris_starts_the_hl7_listener_when_a_port_is_set(tmp_path, monkeypatch):
    # Migrating a fresh SQLite database takes over a minute on a busy shared machine.
    monkeypatch.setattr("tests.test_runris.STARTUP_SECONDS", 180)
    http, dicom, hl7_port = free_port(), free_port(), free_port()
    env = service_env(
        tmp_path,
        RIS_HTTP_PORT=str(http),
        RIS_DICOM_PORT=str(dicom),
        RIS_HL7_PORT=str(hl7_port),
        DEBUG="1",  # senders need not be registered in a trial
    )
    service = Service(tmp_path, "--no-dicom", env=env)
    try:
        service.wait_until_healthy(http)
        assert f"HL7:       MLLP on 127.0.0.1:{hl7_port}" in service.output

        (answer,) = send_all(hl7_port, [adt("A04")])

        assert ack_code(answer) == "AA"
        assert service.terminate() == 0, service.output
        assert not port_is_open(hl7_port)
    finally:
        service.kill()


def test_the_hl7_listener_is_off_by_default(settings):
    from worklist.management.commands.runris import start_hl7

    settings.RIS_HL7_PORT = 0
    assert start_hl7(running=None) is None
