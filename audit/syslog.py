"""Forwarding to an external audit record repository over syslog: RFC 5424 messages
carrying DICOM audit messages (PS3.15 A.6), over TLS (RFC 5425) by default.

The queue is the trail itself: ForwardCursor "syslog" holds the seq of the last event
sent, and each run sends the events after it, oldest first, advancing the cursor only
past what went out. A repository that is down leaves the cursor where it was, and the
next run (audit.forward_syslog, every 30 s) catches up. Delivery is at least once.
"""

import logging
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import transaction

from . import conf, dicom_xml
from .codes import Outcome
from .models import Event, ForwardCursor

logger = logging.getLogger(__name__)

CURSOR = "syslog"
FACILITY_AUTHPRIV = 10
SEVERITY_WARNING = 4
SEVERITY_NOTICE = 5
MSGID = "DICOM+RFC3881"
CHECKPOINT_MSGID = "RIS-CHECKPOINT"
BOM = b"\xef\xbb\xbf"
MAX_BATCHES_PER_RUN = 20


@dataclass
class ForwardResult:
    sent: int = 0
    pending: bool = False
    error: str = ""
    configured: bool = True


def _header_token(value: str, limit: int) -> str:
    token = "".join(ch for ch in value if 33 <= ord(ch) <= 126)[:limit]
    return token or "-"


def syslog_message(event: Event, *, hostname: str) -> bytes:
    """One RFC 5424 message: header, no structured data, then the XML with its BOM."""
    severity = (
        SEVERITY_NOTICE if event.event_outcome_indicator == Outcome.SUCCESS else SEVERITY_WARNING
    )
    timestamp = event.event_date_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    header = (
        f"<{FACILITY_AUTHPRIV * 8 + severity}>1 {timestamp} {_header_token(hostname, 255)} "
        f"{_header_token(conf.get('AUDIT_SOURCE_ID'), 48)} - {MSGID} - "
    )
    return header.encode("ascii") + BOM + dicom_xml.message_text(event).encode("utf-8")


def checkpoint_message(line: str, *, hostname: str) -> bytes:
    """A signed checkpoint (audit.checkpoints) as an RFC 5424 message of its own: the
    JSON line as MSG, MSGID RIS-CHECKPOINT."""
    timestamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    header = (
        f"<{FACILITY_AUTHPRIV * 8 + SEVERITY_NOTICE}>1 {timestamp} {_header_token(hostname, 255)} "
        f"{_header_token(conf.get('AUDIT_SOURCE_ID'), 48)} - {CHECKPOINT_MSGID} - "
    )
    return (header + line).encode("ascii")


def send_checkpoint(line: str, *, hostname: str) -> None:
    sock = connect()
    try:
        sock.sendall(frame(checkpoint_message(line, hostname=hostname)))
        _close_gracefully(sock)
    finally:
        sock.close()


def frame(message: bytes) -> bytes:
    """Octet counting (RFC 5425 4.3): MSG-LEN SP SYSLOG-MSG."""
    return str(len(message)).encode("ascii") + b" " + message


def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=conf.get("AUDIT_SYSLOG_CA_FILE") or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if conf.get("AUDIT_SYSLOG_CERT_FILE"):
        context.load_cert_chain(
            conf.get("AUDIT_SYSLOG_CERT_FILE"), conf.get("AUDIT_SYSLOG_KEY_FILE") or None
        )
    return context


def connect(timeout: float = 10) -> socket.socket:
    host, port = conf.get("AUDIT_SYSLOG_HOST"), conf.get("AUDIT_SYSLOG_PORT")
    sock = socket.create_connection((host, port), timeout=timeout)
    if not conf.get("AUDIT_SYSLOG_TLS"):
        return sock
    try:
        return _tls_context().wrap_socket(sock, server_hostname=host)
    except (OSError, ssl.SSLError):
        sock.close()
        raise


def _send_batch(cursor: ForwardCursor, batch: int) -> tuple[int, bool]:
    """Send the next events after the cursor; returns (sent, more waiting)."""
    events = list(
        Event.objects.filter(seq__gt=cursor.last_seq)
        .order_by("seq")
        .prefetch_related("patients")[:batch]
    )
    if not events:
        return 0, False
    hostname = socket.getfqdn()
    sent = 0
    sock = connect()
    try:
        for event in events:
            sock.sendall(frame(syslog_message(event, hostname=hostname)))
            cursor.last_seq, sent = event.seq, sent + 1
        _close_gracefully(sock)
    finally:
        sock.close()
        cursor.save(update_fields=["last_seq", "updated_at"])
    return sent, len(events) == batch


def _close_gracefully(sock: socket.socket) -> None:
    """End the session so that nothing sent is lost: a plain close() with unread data
    (a TLS session ticket) makes the kernel reset the connection, and the repository
    may drop what it had not read yet. Send close_notify and FIN, drain, then close."""
    try:
        if isinstance(sock, ssl.SSLSocket):
            sock = sock.unwrap()
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(5)
        while sock.recv(4096):
            pass
    except (OSError, ssl.SSLError):
        pass  # the repository closed first: what it read is what it got


def forward() -> ForwardResult:
    """Send what the repository has not had yet (the Celery task and `audit forward`)."""
    if not conf.get("AUDIT_SYSLOG_HOST"):
        return ForwardResult(configured=False)
    ForwardCursor.objects.get_or_create(name=CURSOR)
    result = ForwardResult()
    with transaction.atomic():
        cursor = ForwardCursor.objects.select_for_update().get(name=CURSOR)
        try:
            for _ in range(MAX_BATCHES_PER_RUN):
                sent, result.pending = _send_batch(cursor, conf.get("AUDIT_SYSLOG_BATCH"))
                result.sent += sent
                if not result.pending:
                    break
        except (OSError, ssl.SSLError) as exc:
            result.error, result.pending = f"{type(exc).__name__}: {exc}"[:255], True
            logger.warning(
                "Audit forwarding to %s:%s failed, will retry: %s",
                conf.get("AUDIT_SYSLOG_HOST"),
                conf.get("AUDIT_SYSLOG_PORT"),
                result.error,
            )
        cursor.failures = cursor.failures + 1 if result.error else 0
        cursor.last_error = result.error
        cursor.save(update_fields=["failures", "last_error", "updated_at"])
    return result
