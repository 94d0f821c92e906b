"""MLLP over TLS: a sender with a certificate the configured CA signed is answered;
one without a certificate gets nothing applied."""

import socket
import ssl

import pytest

from hl7v2 import listener
from hl7v2.models import Sender
from tests.dicom.conftest import tls_files
from tests.hl7.conftest import ack_code, adt
from worklist.models import Patient

__all__ = ["tls_files"]


@pytest.fixture
def tls_listener(transactional_db, settings, tls_files):
    settings.RIS_HL7_TLS_CERT = str(tls_files / "server.crt")
    settings.RIS_HL7_TLS_KEY = str(tls_files / "server.key")
    settings.RIS_HL7_TLS_CA = str(tls_files / "ca.crt")
    settings.RIS_HL7_STRICT_SENDERS = True
    Sender.objects.create(sending_application="HIS", sending_facility="HOSP")
    server = listener.start(host="127.0.0.1", port=0)
    yield server
    listener.stop(server)


def client_context(tls_files, with_certificate: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(tls_files / "ca.crt"))
    if with_certificate:
        context.load_cert_chain(str(tls_files / "client.crt"), str(tls_files / "client.key"))
    return context


def exchange(port: int, context: ssl.SSLContext, message: str) -> bytes:
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        sock.sendall(b"\x0b" + message.encode() + b"\x1c\r")
        answer = b""
        while not answer.endswith(b"\x1c\r"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


def test_a_sender_with_a_certificate_is_answered_over_tls(tls_listener, tls_files):
    port = tls_listener.server_address[1]

    answer = exchange(port, client_context(tls_files, True), adt("A04"))

    assert ack_code(answer) == "AA"
    assert Patient.objects.filter(patient_id="PATID1234").exists()


def test_a_sender_without_a_certificate_gets_nothing_applied(tls_listener, tls_files):
    port = tls_listener.server_address[1]

    try:
        answer = exchange(port, client_context(tls_files, False), adt("A04"))
    except (ssl.SSLError, OSError):  # TLS 1.3 reports the refusal when reading
        answer = b""

    assert answer == b""
    assert not Patient.objects.exists()
