"""Connections that never complete an association cannot lock modalities out (issue
10): they have a pending budget of their own (in all and per address, the oldest shed
when full), a deadline for their A-ASSOCIATE-RQ however they trickle it, and free their
place at once when they close or send what is not DICOM. Over real sockets, with
DCMTK's echoscu and pynetdicom as the modality."""

import logging
import os
import socket
import struct
import subprocess
import time

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from audit.codes import Action
from audit.models import Event
from tests.conftest import require_peer
from worklist.dicom import listener

ECHOSCU = "/usr/bin/echoscu"

# The first 10 bytes of an A-ASSOCIATE-RQ whose header announces 200 bytes.
HALF_REQUEST = struct.pack(">BBL", 0x01, 0, 200) + b"\x00\x01\x00\x00"


@pytest.fixture
def flood_settings(transactional_db, settings):
    settings.RIS_AE_TITLE = "RIS"
    settings.RIS_DICOM_MAX_ASSOCIATIONS = 32
    settings.RIS_DICOM_MAX_PENDING = 16
    settings.RIS_DICOM_MAX_PENDING_PER_PEER = 4
    settings.RIS_DICOM_ACSE_TIMEOUT = 30
    settings.RIS_DICOM_NETWORK_TIMEOUT = 60
    return settings


@pytest.fixture
def server(flood_settings):
    server = listener.start(host="127.0.0.1", port=0, tls_port=0)
    yield server
    listener.stop(server)


@pytest.fixture
def port(server):
    return server.server_address[1]


@pytest.fixture
def peers():
    """Sockets a test opens, closed after it."""
    opened = []
    yield opened
    for sock in opened:
        sock.close()


def connect(port, peers, *, source="127.0.0.1", send=b""):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    if send:
        sock.sendall(send)
    peers.append(sock)
    return sock


def echo(port, calling_ae="MODALITY"):
    """(established, C-ECHO status or None, seconds taken)."""
    ae = AE(ae_title=calling_ae)
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    started = time.monotonic()
    assoc = ae.associate("127.0.0.1", port, ae_title="RIS")
    established, status = assoc.is_established, None
    if established:
        status = assoc.send_c_echo().Status
        assoc.release()
    return established, status, time.monotonic() - started


def echoscu(port):
    require_peer(ECHOSCU, "dcmtk")
    started = time.monotonic()
    result = subprocess.run(
        [
            ECHOSCU,
            "-to",
            "10",
            "-ta",
            "10",
            "-aet",
            "MODALITY",
            "-aec",
            "RIS",
            "127.0.0.1",
            str(port),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result, time.monotonic() - started


def closed_by_listener(sock, within: float) -> bool:
    """True when the listener closes `sock` (EOF or reset) within `within` seconds."""
    sock.settimeout(within)
    try:
        while sock.recv(4096):
            pass  # an A-ABORT may come first
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def security_alerts():
    return list(Event.objects.filter(action=Action.SECURITY_ALERT).order_by("seq"))


@pytest.mark.parametrize("opening", [HALF_REQUEST, b""], ids=["half-request", "silent"])
def test_a_half_open_flood_does_not_lock_out_modalities(port, peers, opening):
    # More connections than there are association slots, each holding on. The kernel
    # queues connections in order: every one is accepted before the modality's.
    for _ in range(34):
        connect(port, peers, send=opening)

    established, status, took = echo(port)
    assert (established, status) == (True, 0x0000)
    assert took < 5
    result, took = echoscu(port)
    assert result.returncode == 0, result.stdout + result.stderr
    assert took < 5


def test_shedding_is_logged_once_and_audited_as_a_security_alert(port, peers, caplog):
    with caplog.at_level(logging.WARNING, logger="worklist.dicom.transport"):
        for _ in range(34):
            connect(port, peers, send=HALF_REQUEST)
        assert echo(port)[:2] == (True, 0x0000)
        assert wait_until(lambda: security_alerts())
    shed_lines = [r.getMessage() for r in caplog.records if "Shed" in r.getMessage()]
    assert len(shed_lines) == 1
    assert "127.0.0.1" in shed_lines[0]
    [alert] = security_alerts()
    assert alert.source_ip == "127.0.0.1"
    assert alert.channel == "dicom"
    assert "A-ASSOCIATE-RQ" in alert.detail


def test_the_oldest_pending_connection_of_an_address_is_shed(port, peers):
    oldest = connect(port, peers, send=HALF_REQUEST)
    for _ in range(4):  # the per-address budget, one more than room is left for
        connect(port, peers, send=HALF_REQUEST)
    assert closed_by_listener(oldest, within=5)
    assert echo(port)[:2] == (True, 0x0000)


def test_a_flood_from_many_addresses_is_held_to_the_pending_budget(server, port, peers):
    flood = [connect(port, peers, source=f"127.0.0.{n}", send=HALF_REQUEST) for n in range(2, 42)]
    assert echo(port)[:2] == (True, 0x0000)
    assert server.budget.count() <= 16
    # The first ones were shed to make room for the later ones.
    assert closed_by_listener(flood[0], within=5)


def test_a_pending_connection_ends_at_the_deadline_however_it_trickles(flood_settings, peers):
    flood_settings.RIS_DICOM_ACSE_TIMEOUT = 2
    server = listener.start(host="127.0.0.1", port=0, tls_port=0)
    try:
        sock = connect(server.server_address[1], peers)
        started = time.monotonic()
        sock.settimeout(0.25)
        closed = False
        for byte in HALF_REQUEST * 20:  # one byte every 250 ms: each read is quick
            try:
                sock.sendall(bytes([byte]))
                if sock.recv(1) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except OSError:
                closed = True
                break
            if time.monotonic() - started > 10:
                break
        took = time.monotonic() - started
        assert closed, "the listener kept a trickling connection past its deadline"
        assert 1.5 < took < 6
    finally:
        listener.stop(server)


@pytest.mark.parametrize(
    "sent",
    [
        b"",
        os.urandom(4096),
        struct.pack(">BBL", 0x01, 0, 2**31) + b"\x00" * 64,  # announces 2 GB
        b"GET / HTTP/1.1\r\nHost: ris\r\n\r\n",
    ],
    ids=["nothing", "random", "2GB-header", "http"],
)
def test_closed_and_garbage_connections_free_their_place_at_once(server, port, peers, sent):
    for _ in range(60):
        sock = connect(port, peers, send=sent)
        sock.close()
    assert echo(port)[:2] == (True, 0x0000)
    assert wait_until(lambda: server.budget.count() == 0, timeout=3)


def test_garbage_left_open_is_closed_at_once(port, peers):
    sock = connect(port, peers, send=b"\x47\x45\x54 / HTTP/1.1\r\n\r\n")
    assert closed_by_listener(sock, within=3)


def test_a_header_announcing_a_huge_request_is_closed_at_once(port, peers):
    sock = connect(port, peers, send=struct.pack(">BBL", 0x01, 0, 2**31))
    assert closed_by_listener(sock, within=3)
