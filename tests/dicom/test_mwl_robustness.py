"""The listener under the conditions of a hospital network: several modalities at
once, every usual transfer syntax, peers that vanish, abort, send garbage or say
nothing, and the limits from settings."""

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom import AE
from pynetdicom.sop_class import ModalityWorklistInformationFind

from tests.factories import book_step, future_day, local, station

from .conftest import associate, find, matches, mwl_query

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR")

DAY = future_day(7)  # a day ahead: its bookings are all in the future


@pytest.fixture
def worklist(dicom_port):
    station("CT1")
    for hour in range(8, 14):
        book_step(start=local(DAY, hour))
    return dicom_port


def count(port, **kwargs) -> int:
    return len(matches(find(port, mwl_query(PatientName="", PatientID="", sps={}), **kwargs)))


def wait_for(condition, timeout=10):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


@pytest.mark.postgres
def test_several_modalities_query_at_once(worklist):
    """On PostgreSQL; the in-memory SQLite test database locks whole tables between
    threads, so the embedded database is tried with the real `dicomserver` process
    and its database file (test_dicomserver_command.py)."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        counts = list(pool.map(lambda _: count(worklist), range(16)))
    assert counts == [6] * 16


@pytest.mark.parametrize(
    "transfer_syntax",
    [
        ImplicitVRLittleEndian,
        ExplicitVRLittleEndian,
        ExplicitVRBigEndian,
        DeflatedExplicitVRLittleEndian,
    ],
)
def test_every_usual_transfer_syntax(worklist, transfer_syntax):
    ae = AE(ae_title="CT1")
    ae.add_requested_context(ModalityWorklistInformationFind, [transfer_syntax])
    assoc = ae.associate("127.0.0.1", worklist, ae_title="RIS")
    assert assoc.is_established
    try:
        responses = list(
            assoc.send_c_find(mwl_query(PatientName="", sps={}), ModalityWorklistInformationFind)
        )
    finally:
        assoc.release()
    assert len(matches(responses)) == 6


def test_a_peer_that_vanishes_mid_answer_leaves_the_listener_serving(worklist, dicom_server):
    assoc = associate(worklist, max_pdu=4096)
    answers = assoc.send_c_find(mwl_query(PatientName="", sps={}), ModalityWorklistInformationFind)
    next(answers)
    assoc.dul.socket.socket.shutdown(socket.SHUT_RDWR)  # no release, no abort: gone
    assoc.dul.socket.socket.close()
    assert count(worklist) == 6
    assert wait_for(lambda: len(dicom_server.ae.active_associations) == 0)


def test_a_peer_that_aborts_mid_answer_leaves_the_listener_serving(worklist, dicom_server):
    assoc = associate(worklist)
    answers = assoc.send_c_find(mwl_query(PatientName="", sps={}), ModalityWorklistInformationFind)
    next(answers)
    assoc.abort()
    assert count(worklist) == 6
    assert wait_for(lambda: len(dicom_server.ae.active_associations) == 0)


@pytest.mark.parametrize(
    "garbage",
    [
        b"\xde\xad\xbe\xef" * 64,
        b"\x01\x00\xff\xff\xff\xff" + b"\x00" * 32,
        b"\x04\x00\x00\x00\x00\x10" + b"\x00" * 16,  # a P-DATA before any association
        b"GET / HTTP/1.1\r\nHost: ris\r\n\r\n",
    ],
)
def test_garbage_does_not_stop_the_listener(worklist, garbage):
    with socket.create_connection(("127.0.0.1", worklist), timeout=5) as peer:
        peer.sendall(garbage)
    assert count(worklist) == 6


def test_a_silent_peer_is_dropped_after_the_acse_timeout(transactional_db, mwl_settings):
    from worklist.dicom import listener

    mwl_settings.RIS_DICOM_ACSE_TIMEOUT = 1
    server = listener.start(host="127.0.0.1", port=0, tls_port=0)
    try:
        with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=10) as peer:
            started = time.monotonic()
            assert peer.recv(1) == b""  # closed by the listener, not by us
            assert time.monotonic() - started < 8
    finally:
        listener.stop(server)


def test_the_limits_come_from_settings(transactional_db, mwl_settings):
    from worklist.dicom import listener

    mwl_settings.RIS_DICOM_MAX_PDU = 32768
    mwl_settings.RIS_DICOM_DIMSE_TIMEOUT = 12
    mwl_settings.RIS_DICOM_NETWORK_TIMEOUT = 34
    mwl_settings.RIS_DICOM_MAX_ASSOCIATIONS = 5
    ae = listener.build_ae(ae_title="RIS")
    assert ae.maximum_pdu_size == 32768
    assert ae.dimse_timeout == 12
    assert ae.network_timeout == 34
    assert ae.maximum_associations == 5


def test_a_small_peer_pdu_still_gets_every_answer(worklist):
    assert count(worklist, max_pdu=4096) == 6
