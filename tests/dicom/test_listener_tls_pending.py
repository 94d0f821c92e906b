"""Over TLS too, connections that do not complete a handshake cannot hold the port:
the handshake happens in each connection's own thread under the association
deadline (it used to run in the accept loop, where one silent peer stopped every TLS
modality), and a peer that sends what is not TLS is closed at once."""

import socket
import time

from .conftest import matches

# The TLS fixtures and client of the worklist-over-TLS tests.
from .test_mwl_tls import client, start_tls, tls_find, tls_settings  # noqa: F401


def test_silent_peers_on_the_tls_port_do_not_block_modalities(start_tls, tls_files):  # noqa: F811
    port = start_tls()
    silent = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
    try:
        started = time.monotonic()
        assert len(matches(tls_find(port, client(tls_files)))) == 1
        assert time.monotonic() - started < 5
    finally:
        for sock in silent:
            sock.close()


def test_a_peer_sending_what_is_not_tls_is_closed_at_once(start_tls, tls_files):  # noqa: F811
    port = start_tls()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: ris\r\n\r\n")
        sock.settimeout(5)
        try:
            while sock.recv(4096):
                pass
        except ConnectionResetError:
            pass
    assert len(matches(tls_find(port, client(tls_files)))) == 1
