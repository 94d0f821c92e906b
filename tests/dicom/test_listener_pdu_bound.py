"""An incoming PDU longer than the listener's bounds is aborted before its body is read
(issue 10): memory does not grow with what a peer streams. The listener runs in its
own process so that its resident memory (/proc/<pid>/status) is its own."""

import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification

ROOT = Path(__file__).resolve().parent.parent.parent
SERVE = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
import django
django.setup()
from worklist.dicom import listener
server = listener.start(host="127.0.0.1", port=0, tls_port=0)
print(server.server_address[1], flush=True)
sys.stdin.read()
listener.stop(server)
"""
STREAMED = 64 * 1024 * 1024
CHUNK = 1024 * 1024


@pytest.fixture(scope="module")
def listener_process():
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc (Linux) to read the listener's memory")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RIS_DICOM_MAX_PDU": "65536"}
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    port = int(process.stdout.readline())
    yield process, port
    process.stdin.close()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def stream(sock, header: bytes) -> int:
    """Send `header` then up to STREAMED bytes; what got through before the listener
    closed the connection."""
    sock.settimeout(10)
    sent = 0
    chunk = b"\x00" * CHUNK
    try:
        sock.sendall(header)
        while sent < STREAMED:
            sent += sock.send(chunk)
    except OSError:
        pass
    return sent


def echo_works(port) -> bool:
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    assoc = ae.associate("127.0.0.1", port, ae_title="RIS")
    if not assoc.is_established:
        return False
    try:
        return assoc.send_c_echo().Status == 0x0000
    finally:
        assoc.release()


def test_a_huge_p_data_pdu_aborts_the_association_without_reading_it(listener_process):
    process, port = listener_process
    assert echo_works(port)  # warm: the first association's allocations are not ours
    before = memory_kib(process.pid, "VmHWM")

    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    assoc = ae.associate("127.0.0.1", port, ae_title="RIS")
    assert assoc.is_established
    raw = assoc.dul.socket.socket
    sent = stream(raw, struct.pack(">BBL", 0x04, 0, 0xFFFFFFFF))

    deadline = time.monotonic() + 10
    while assoc.is_established and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not assoc.is_established
    assert assoc.is_aborted
    assert sent < STREAMED, "the listener read the whole stream"
    grown = memory_kib(process.pid, "VmHWM") - before
    assert grown < 16 * 1024, f"the listener grew by {grown} KiB"
    assert echo_works(port)


def test_a_huge_association_request_is_closed_without_reading_it(listener_process):
    process, port = listener_process
    assert echo_works(port)
    before = memory_kib(process.pid, "VmHWM")
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sent = stream(sock, struct.pack(">BBL", 0x01, 0, 0xFFFFFFFF))
    assert sent < STREAMED, "the listener read the whole stream"
    grown = memory_kib(process.pid, "VmHWM") - before
    assert grown < 16 * 1024, f"the listener grew by {grown} KiB"
    assert echo_works(port)


def test_a_p_data_pdu_just_above_the_maximum_is_aborted(listener_process):
    """RIS_DICOM_MAX_PDU is 65536 for this listener: a P-DATA-TF announcing more than
    that plus its header is refused, one within it is read."""
    _, port = listener_process
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    assoc = ae.associate("127.0.0.1", port, ae_title="RIS")
    assert assoc.is_established
    assert assoc.acceptor.maximum_length == 65536
    stream(assoc.dul.socket.socket, struct.pack(">BBL", 0x04, 0, 65536 + 6 + 1))
    deadline = time.monotonic() + 10
    while assoc.is_established and time.monotonic() < deadline:
        time.sleep(0.05)
    assert assoc.is_aborted
