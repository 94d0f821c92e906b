"""Fixtures for the DICOM listener tests: a listener on a free port and a pynetdicom
SCU that asks the worklist (stations and steps come from tests/factories.py).

The listener answers from its own threads, so these tests use a transactional
database (committed rows), not the per-test transaction of `db`."""

import socket
import subprocess

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import ModalityWorklistInformationFind, Verification

from worklist.dicom import listener


@pytest.fixture
def mwl_settings(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    settings.RIS_AE_TITLE = "RIS"
    settings.RIS_DICOM_STRICT_AE = True
    settings.RIS_MWL_MAX_MATCHES = 1000
    settings.RIS_MWL_ACCENT_INSENSITIVE = True
    return settings


@pytest.fixture
def dicom_server(transactional_db, mwl_settings):
    """A listener as configured in settings, on a free port picked by the kernel."""
    server = listener.start(host="127.0.0.1", port=0, tls_port=0)
    yield server
    listener.stop(server)


@pytest.fixture
def dicom_port(dicom_server):
    return dicom_server.server_address[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_with_tls():
    """A listener on a free port and its TLS server on another. The TLS port must be
    named up front, and other test runs on the machine may take it in between: try a
    few."""
    for attempt in range(5):
        try:
            return listener.start(host="127.0.0.1", port=0, tls_port=free_port())
        except OSError:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """A certificate authority, a server certificate for 127.0.0.1 and a client
    certificate for a modality, made with the openssl command."""
    from tests.conftest import require_peer

    openssl = require_peer("/usr/bin/openssl", "openssl")
    root = tmp_path_factory.mktemp("tls")

    def run(*args):
        subprocess.run([openssl, *args], cwd=root, check=True, capture_output=True, timeout=60)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    )
    (root / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, subject in (("server", "/CN=127.0.0.1"), ("client", "/CN=CT1")):
        run(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            subject,
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
        )
        run(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.cnf",
            "-out",
            f"{name}.crt",
        )
    return root


def mwl_query(**top) -> Dataset:
    """A worklist identifier: top-level keys, and `sps` a dict of step keys. Text
    beyond ASCII is sent in UTF-8, saying so, unless SpecificCharacterSet is given."""
    sps = top.pop("sps", None)
    ds = Dataset()
    if not str(top).isascii() or not str(sps).isascii():
        ds.SpecificCharacterSet = "ISO_IR 192"
    for keyword, value in top.items():
        setattr(ds, keyword, value)
    if sps is not None:
        item = Dataset()
        for keyword, value in sps.items():
            setattr(item, keyword, value)
        ds.ScheduledProcedureStepSequence = [item]
    return ds


def associate(port, *, calling_ae="CT1", called_ae="RIS", contexts=None, **kwargs):
    ae = AE(ae_title=calling_ae)
    for context in contexts or (ModalityWorklistInformationFind,):
        ae.add_requested_context(context)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    return ae.associate("127.0.0.1", port, ae_title=called_ae, **kwargs)


def find(port, identifier, *, calling_ae="CT1", **kwargs):
    """[(status, identifier or None)] of one C-FIND on a new association, the last
    the final response; the status a Dataset (Status, ErrorComment...)."""
    assoc = associate(port, calling_ae=calling_ae, **kwargs)
    assert assoc.is_established, f"association refused for {calling_ae}"
    try:
        return list(assoc.send_c_find(identifier, ModalityWorklistInformationFind))
    finally:
        assoc.release()


def matches(responses):
    """The identifiers of the pending responses, after checking the final status."""
    final = responses[-1][0]
    assert final.Status == 0x0000, f"final status 0x{final.Status:04X}"
    return [identifier for status, identifier in responses[:-1]]


def values(responses, keyword, *, sps=False):
    found = []
    for identifier in matches(responses):
        source = identifier.ScheduledProcedureStepSequence[0] if sps else identifier
        found.append(str(source[keyword].value) if keyword in source else None)
    return found


__all__ = ["Verification", "find", "matches", "mwl_query", "values"]
