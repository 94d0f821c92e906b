"""DICOM over TLS (PS3.15 Annex B) on the second port, certificates from settings,
mutual TLS when required."""

import socket
import ssl

import pytest
from django.core.exceptions import ImproperlyConfigured
from pynetdicom import AE
from pynetdicom.sop_class import ModalityWorklistInformationFind

from tests.factories import book_step, station
from worklist.dicom import listener

from .conftest import free_port, matches, mwl_query, start_with_tls


@pytest.fixture
def tls_settings(mwl_settings, tls_files):
    mwl_settings.RIS_DICOM_TLS_CERT = str(tls_files / "server.crt")
    mwl_settings.RIS_DICOM_TLS_KEY = str(tls_files / "server.key")
    mwl_settings.RIS_DICOM_TLS_CA = str(tls_files / "ca.crt")
    mwl_settings.RIS_DICOM_TLS_REQUIRE_CLIENT_CERT = False
    return mwl_settings


@pytest.fixture
def start_tls(transactional_db, tls_settings):
    started = []

    def start(**overrides):
        for name, value in overrides.items():
            setattr(tls_settings, name, value)
        server = start_with_tls()
        started.append(server)
        station("CT1")
        book_step()
        return listener.tls_server(server).server_address[1]

    yield start
    for server in started:
        listener.stop(server)


def client(tls_files, *, certificate=True):
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(tls_files / "ca.crt"))
    if certificate:
        context.load_cert_chain(str(tls_files / "client.crt"), str(tls_files / "client.key"))
    return context


def tls_find(port, context):
    ae = AE(ae_title="CT1")
    ae.add_requested_context(ModalityWorklistInformationFind)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    assoc = ae.associate("127.0.0.1", port, ae_title="RIS", tls_args=(context, "localhost"))
    if not assoc.is_established:
        return None
    try:
        return list(assoc.send_c_find(mwl_query(PatientName=""), ModalityWorklistInformationFind))
    finally:
        assoc.release()


def test_the_worklist_over_tls(start_tls, tls_files):
    port = start_tls()
    assert len(matches(tls_find(port, client(tls_files)))) == 1


def test_a_modality_without_certificate_may_connect_unless_mutual_tls_is_required(
    start_tls, tls_files
):
    port = start_tls()
    assert len(matches(tls_find(port, client(tls_files, certificate=False)))) == 1


def test_mutual_tls_refuses_a_modality_without_certificate(start_tls, tls_files):
    port = start_tls(RIS_DICOM_TLS_REQUIRE_CLIENT_CERT=True)
    assert tls_find(port, client(tls_files, certificate=False)) is None
    assert len(matches(tls_find(port, client(tls_files)))) == 1


def test_a_client_that_does_not_trust_our_certificate_cannot_connect(start_tls, tls_files):
    port = start_tls()
    stranger = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)  # system CAs only
    assert tls_find(port, stranger) is None


def test_plain_dicom_and_garbage_on_the_tls_port_leave_it_serving(start_tls, tls_files):
    port = start_tls()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as peer:
        peer.sendall(b"\x01\x00\x00\x00\x00\x10" + b"\x00" * 16)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as peer:
        peer.sendall(b"\x16\x03\x01\x00\x05hello")  # a broken TLS hello
    assert len(matches(tls_find(port, client(tls_files)))) == 1


def test_tls_without_a_certificate_is_a_configuration_error(tls_settings):
    tls_settings.RIS_DICOM_TLS_CERT = ""
    with pytest.raises(ImproperlyConfigured, match="RIS_DICOM_TLS_CERT"):
        listener.start(host="127.0.0.1", port=0, tls_port=free_port())


def test_mutual_tls_without_a_ca_is_a_configuration_error(tls_settings):
    tls_settings.RIS_DICOM_TLS_CA = ""
    tls_settings.RIS_DICOM_TLS_REQUIRE_CLIENT_CERT = True
    with pytest.raises(ImproperlyConfigured, match="RIS_DICOM_TLS_CA"):
        listener.start(host="127.0.0.1", port=0, tls_port=free_port())


def test_no_tls_port_means_no_second_server(transactional_db, mwl_settings):
    mwl_settings.RIS_DICOM_TLS_PORT = 0
    server = listener.start(host="127.0.0.1", port=0)
    try:
        assert listener.tls_server(server) is None
    finally:
        listener.stop(server)
