"""The DICOM listener answers C-ECHO from pynetdicom and from DCMTK's echoscu, rejects
associations addressed to another AE title, and survives misbehaving peers."""

import logging
import socket
import subprocess
import time

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from worklist.dicom import listener

from .conftest import require_peer

ECHOSCU = "/usr/bin/echoscu"


@pytest.fixture
def dicom_port(settings):
    """A listener as configured in settings, on a free port picked by the kernel."""
    settings.RIS_AE_TITLE = "RIS"
    server = listener.start(host="127.0.0.1", port=0)
    yield server.server_address[1]
    listener.stop(server)


def associate(port, *, called_ae="RIS", calling_ae="MODALITY"):
    ae = AE(ae_title=calling_ae)
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
    return ae.associate("127.0.0.1", port, ae_title=called_ae)


def echo_status(port, **kwargs):
    assoc = associate(port, **kwargs)
    assert assoc.is_established
    try:
        return assoc.send_c_echo().Status
    finally:
        assoc.release()


def echoscu(port, *, called_ae="RIS"):
    require_peer(ECHOSCU, "dcmtk")
    return subprocess.run(
        [ECHOSCU, "-aet", "MODALITY", "-aec", called_ae, "127.0.0.1", str(port)],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_echo_from_pynetdicom_succeeds(dicom_port):
    assert echo_status(dicom_port) == 0x0000


def test_echo_from_dcmtk_echoscu_succeeds(dicom_port):
    result = echoscu(dicom_port)
    assert result.returncode == 0, result.stdout + result.stderr


def test_echo_is_logged_with_calling_ae_and_address(dicom_port, caplog):
    with caplog.at_level(logging.INFO, logger="worklist.dicom.echo"):
        echo_status(dicom_port, calling_ae="CT1")
    messages = [r.getMessage() for r in caplog.records if r.name == "worklist.dicom.echo"]
    assert len(messages) == 1
    assert "CT1" in messages[0]
    assert "127.0.0.1" in messages[0]


def test_wrong_called_ae_title_is_rejected_as_not_recognized(dicom_port):
    assoc = associate(dicom_port, called_ae="NOTRIS")
    assert assoc.is_rejected
    rejection = assoc.acceptor.primitive
    # rejected-permanent, by the DICOM UL service-user, called AE title not recognized
    assert (rejection.result, rejection.result_source, rejection.diagnostic) == (1, 1, 7)


def test_rejection_is_logged_with_calling_and_called_ae(dicom_port, caplog):
    with caplog.at_level(logging.WARNING, logger="worklist.dicom.listener"):
        associate(dicom_port, called_ae="NOTRIS", calling_ae="CT1")
        deadline = time.monotonic() + 5
        while not caplog.records and time.monotonic() < deadline:
            time.sleep(0.05)  # the acceptor thread logs after the peer has its answer
    messages = [r.getMessage() for r in caplog.records if r.name == "worklist.dicom.listener"]
    assert len(messages) == 1
    assert "CT1" in messages[0]
    assert "NOTRIS" in messages[0]
    assert "not recognised" in messages[0]


def test_wrong_called_ae_title_from_echoscu_fails(dicom_port):
    result = echoscu(dicom_port, called_ae="NOTRIS")
    assert result.returncode != 0


def test_wrong_called_ae_title_is_accepted_when_not_required(settings):
    settings.RIS_DICOM_REQUIRE_CALLED_AE = False
    server = listener.start(host="127.0.0.1", port=0)
    try:
        assert echo_status(server.server_address[1], called_ae="ANYTHING") == 0x0000
    finally:
        listener.stop(server)


def test_association_stays_healthy_over_several_echoes(dicom_port):
    assoc = associate(dicom_port)
    assert assoc.is_established
    statuses = [assoc.send_c_echo().Status for _ in range(10)]
    assert statuses == [0x0000] * 10
    assert assoc.is_established
    assoc.release()
    assert assoc.is_released


@pytest.mark.parametrize(
    "garbage",
    [
        b"\xde\xad\xbe\xef" * 64,  # not a PDU type at all
        b"\x01\x00\xff\xff\xff\xff" + b"\x00" * 32,  # A-ASSOCIATE-RQ claiming 4 GiB, cut short
        b"GET / HTTP/1.1\r\nHost: ris\r\n\r\n",  # someone pointed a browser at the port
    ],
)
def test_garbage_then_disconnect_does_not_stop_the_listener(dicom_port, garbage):
    with socket.create_connection(("127.0.0.1", dicom_port), timeout=5) as peer:
        peer.sendall(garbage)
    assert echo_status(dicom_port) == 0x0000
