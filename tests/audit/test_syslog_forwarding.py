"""Forwarding to an audit record repository over syslog/TLS (RFC 5424 + 5425), with a
queue that survives the repository being down."""

import datetime
import ipaddress
import socket
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from audit import services, syslog
from audit.codes import Action
from audit.models import Event, ForwardCursor

pytestmark = pytest.mark.django_db


def self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "audit-repository.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "repo.pem", tmp_path / "repo.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def read_frames(data: bytes) -> list[bytes]:
    """Split an octet-counted stream (RFC 5425 4.3) into messages."""
    frames = []
    while data:
        length, _, rest = data.partition(b" ")
        size = int(length)
        frames.append(rest[:size])
        data = rest[size:]
    return frames


class Repository:
    """A syslog-over-TLS receiver on 127.0.0.1, as an audit record repository."""

    def __init__(self, port, cert_file, key_file):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_file, key_file)
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", port))
        self.server.listen()
        self.server.settimeout(10)
        self.received = b""
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        try:
            with self.context.wrap_socket(conn, server_side=True) as tls:
                tls.settimeout(10)
                while chunk := tls.recv(65536):
                    self.received += chunk
        except OSError:  # a client that does not trust us hangs up in the handshake
            conn.close()

    def messages(self) -> list[bytes]:
        self.thread.join(timeout=10)
        self.server.close()
        return read_frames(self.received)


@pytest.fixture
def repository_settings(settings, tmp_path):
    cert_file, key_file = self_signed(tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.AUDIT_SYSLOG_HOST = "127.0.0.1"
    settings.AUDIT_SYSLOG_PORT = port
    settings.AUDIT_SYSLOG_TLS = True
    settings.AUDIT_SYSLOG_CA_FILE = str(cert_file)
    return port, cert_file, key_file


def test_nothing_is_sent_when_no_repository_is_configured(settings):
    settings.AUDIT_SYSLOG_HOST = ""
    assert syslog.forward().configured is False


def test_events_wait_while_the_repository_is_down_and_go_when_it_is_up(repository_settings):
    port, cert_file, key_file = repository_settings
    services.record(Action.PATIENT_RECORD, patients=[("AV35674", "HOSP")])

    down = syslog.forward()

    assert down.sent == 0 and down.pending and "ConnectionRefused" in down.error
    cursor = ForwardCursor.objects.get(name="syslog")
    assert (cursor.last_seq, cursor.failures) == (0, 1)

    services.record(Action.PATIENT_RECORD, patients=[("X2", "")])
    repository = Repository(port, cert_file, key_file)
    up = syslog.forward()
    messages = repository.messages()

    total = Event.objects.count()
    assert (up.sent, up.error) == (total, "")
    assert len(messages) == total
    cursor.refresh_from_db()
    assert (cursor.last_seq, cursor.failures) == (Event.objects.order_by("-seq")[0].seq, 0)
    assert any(b"AV35674^^^HOSP" in m for m in messages)


def test_messages_are_rfc5424_with_a_dicom_audit_message(repository_settings):
    port, cert_file, key_file = repository_settings
    event = services.record(Action.PATIENT_RECORD, patients=[("P1", "")])
    ForwardCursor.objects.create(name="syslog", last_seq=event.seq - 1)
    repository = Repository(port, cert_file, key_file)
    syslog.forward()
    [message] = repository.messages()
    header, _, xml = message.partition(b"\xef\xbb\xbf")
    pri_version, timestamp, host, app, procid, msgid, structured_data, _ = header.split(b" ")
    assert pri_version == b"<85>1"  # facility authpriv (10), severity notice (5), version 1
    assert timestamp.endswith(b"Z") and b"." in timestamp
    assert host
    assert (app, procid, msgid, structured_data) == (b"RIS", b"-", b"DICOM+RFC3881", b"-")
    assert xml.startswith(b"<AuditMessage>")


def test_an_untrusted_repository_certificate_sends_nothing(repository_settings, settings, tmp_path):
    port, cert_file, key_file = repository_settings
    (tmp_path / "other").mkdir()
    other_cert, _ = self_signed(tmp_path / "other")
    settings.AUDIT_SYSLOG_CA_FILE = str(other_cert)
    services.record(Action.PATIENT_RECORD)
    repository = Repository(port, cert_file, key_file)
    result = syslog.forward()
    repository.server.close()
    assert result.sent == 0
    assert "SSL" in result.error or "certificate" in result.error
    assert ForwardCursor.objects.get(name="syslog").last_seq == 0
