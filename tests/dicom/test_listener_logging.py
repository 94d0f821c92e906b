"""Malformed input costs one log line per association, naming the peer, without a
traceback (issue 10): before the change 4 KiB of garbage gave some 60 ERROR lines
with tracebacks, and a malformed command set a reader-thread traceback on stderr."""

import logging
import os
import struct
import threading

import pytest

from worklist.dicom import listener

from .raw_peer import RawPeer, associate_rq


@pytest.fixture
def port(transactional_db, settings):
    settings.RIS_AE_TITLE = "RIS"
    server = listener.start(host="127.0.0.1", port=0, tls_port=0)
    yield server.server_address[1]
    listener.stop(server)


@pytest.fixture
def thread_crashes(monkeypatch):
    crashes = []
    monkeypatch.setattr(threading, "excepthook", crashes.append)
    return crashes


def listener_lines(caplog):
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


def after_association(data: bytes):
    return ("associated", data)


GARBAGE = os.urandom(4096)
CASES = {
    "garbage before association": GARBAGE,
    "http before association": b"GET / HTTP/1.1\r\nHost: ris\r\n\r\n" * 100,
    "truncated request": associate_rq()[:-20] + b"\xff" * 20,
    "request with a bad item": struct.pack(">BBL", 0x01, 0, 74)
    + b"\x00\x01\x00\x00"
    + b"RIS             MODALITY        "
    + b"\x00" * 32
    + b"\x77\x00\x00\x02AB",
    "garbage after association": after_association(GARBAGE),
    "P-DATA with a PDV longer than the PDU": after_association(
        struct.pack(">BBL", 0x04, 0, 20) + struct.pack(">L", 100) + b"\x01\x03" + b"x" * 14
    ),
    "P-DATA with a garbage command set": after_association(
        struct.pack(">BBL", 0x04, 0, 206) + struct.pack(">L", 202) + b"\x01\x03" + GARBAGE[:200]
    ),
    "second A-ASSOCIATE-RQ": after_association(associate_rq()),
    "A-ASSOCIATE-RQ with spaces for AE titles": after_association(
        struct.pack(">BBL", 0x01, 0, 10) + b"\x00" * 10
    ),
}


@pytest.mark.parametrize("sent", CASES.values(), ids=CASES.keys())
def test_malformed_input_is_one_line_naming_the_peer(port, caplog, thread_crashes, sent):
    peer = RawPeer(port)
    peer_port = peer.local_port
    with caplog.at_level(logging.DEBUG):
        if isinstance(sent, tuple):
            assert peer.associate()
            sent = sent[1]
        peer.send(sent)
        assert peer.ended_by_listener(within=10)
        peer.close()
        # A C-ECHO after it: the listener is healthy, and every line about the
        # malformed association has been written by the time it is answered.
        check = RawPeer(port)
        assert check.associate() and check.echo() == 0x0000
        check.release()
    lines = [r for r in listener_lines(caplog) if f":{peer_port}" in r.getMessage()]
    everything = listener_lines(caplog)
    assert len(everything) == 1, [r.getMessage() for r in everything]
    assert len(lines) == 1
    assert lines[0].exc_info is None
    assert "127.0.0.1" in lines[0].getMessage()
    assert not thread_crashes


@pytest.fixture
def described(monkeypatch):
    """The messages pynetdicom's standard handlers describe (formatted or not)."""
    from pynetdicom import _config, association

    seen = []
    handler = association.standard_dimse_recv_handler

    def describing(event):
        seen.append(type(event.message).__name__)
        return handler(event)

    monkeypatch.setattr(association, "standard_dimse_recv_handler", describing)
    monkeypatch.setattr(_config, "LOG_HANDLER_LEVEL", _config.LOG_HANDLER_LEVEL)
    return seen


@pytest.mark.parametrize("level", [logging.DEBUG, logging.INFO])
def test_each_message_is_described_only_when_pynetdicom_logs_debug(
    transactional_db, settings, caplog, described, level
):
    """RIS_DICOM_LOG_LEVEL=DEBUG shows every message exchanged, as pynetdicom does;
    otherwise pynetdicom's describing handlers are not bound, and cost nothing."""
    settings.RIS_AE_TITLE = "RIS"
    caplog.set_level(level, logger="pynetdicom")
    server = listener.start(host="127.0.0.1", port=0)
    try:
        peer = RawPeer(server.server_address[1])  # not pynetdicom: only the listener's
        assert peer.associate()
        assert peer.echo() == 0x0000
        peer.release()
    finally:
        listener.stop(server)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("pynetdicom")]
    if level == logging.DEBUG:
        assert described == ["C_ECHO_RQ"]
        assert any("C-ECHO RQ" in line for line in lines)
    else:
        assert described == []
