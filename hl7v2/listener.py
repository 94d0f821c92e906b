"""The MLLP listener: HL7 v2 messages over TCP, each framed <VT> message <FS><CR>
(HL7 v2 Appendix C), answered on the same connection with the ACK of
services.receive. One thread per connection; a connection may carry any number of
messages, one after the other. Bytes outside a frame are dropped (and logged); a
frame never completed (connection closed, timeout, over the size limit) is dropped
unapplied. Over TLS when RIS_HL7_TLS_CERT and RIS_HL7_TLS_KEY are set.
"""

import logging
import socket
import socketserver
import ssl
import threading

from django.conf import settings
from django.db import close_old_connections, connection

from . import codec, services

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4 * 1024 * 1024


def frames(sock: socket.socket):
    """The messages of a connection, as bytes without their frame."""
    buffer = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, OSError):
            if buffer.strip():
                logger.warning("HL7 connection ended inside a frame: %d bytes dropped", len(buffer))
            return
        if not chunk:
            if buffer.strip():
                logger.warning(
                    "HL7 connection closed inside a frame: %d bytes dropped", len(buffer)
                )
            return
        buffer += chunk
        while True:
            start = buffer.find(codec.START_BLOCK)
            if start < 0:
                if buffer.strip():
                    logger.warning("HL7: %d bytes outside a frame dropped", len(buffer))
                buffer = b""
                break
            if start > 0:
                if buffer[:start].strip():
                    logger.warning("HL7: %d bytes outside a frame dropped", start)
                buffer = buffer[start:]
            end = buffer.find(codec.END_BLOCK)
            if end < 0:
                if len(buffer) > MAX_MESSAGE_BYTES:
                    logger.warning("HL7 frame over %d bytes dropped", MAX_MESSAGE_BYTES)
                    return
                break
            body = buffer[1:end]
            buffer = buffer[end + len(codec.END_BLOCK) :]
            # A start block inside the body: the earlier frame was never ended.
            inner = body.rfind(codec.START_BLOCK)
            if inner >= 0:
                logger.warning("HL7 frame without an end dropped")
                body = body[inner + 1 :]
            yield body


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        sock.settimeout(settings.RIS_HL7_TIMEOUT)
        address, port = self.client_address[:2]
        try:
            if self.server.tls is not None:
                # The handshake in this connection's thread, not the accepting one.
                sock = self.server.tls.wrap_socket(sock, server_side=True)
            for body in frames(sock):
                close_old_connections()
                answer = services.receive(body, address=address, port=port)
                sock.sendall(codec.frame(answer.ack))
        except (OSError, ssl.SSLError) as exc:
            logger.info("HL7 connection from %s ended: %s", address, exc)
        finally:
            connection.close()


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False

    def __init__(self, address, tls: ssl.SSLContext | None = None):
        self.tls = tls
        super().__init__(address, Handler)


def tls_context() -> ssl.SSLContext | None:
    if not (settings.RIS_HL7_TLS_CERT and settings.RIS_HL7_TLS_KEY):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.RIS_HL7_TLS_CERT, settings.RIS_HL7_TLS_KEY)
    if settings.RIS_HL7_TLS_CA:
        context.load_verify_locations(settings.RIS_HL7_TLS_CA)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def start(host: str | None = None, port: int | None = None) -> Server:
    """Listen in a background thread; port 0 with an explicit call picks a free one."""
    server = Server(
        (host or settings.RIS_HL7_HOST, settings.RIS_HL7_PORT if port is None else port),
        tls=tls_context(),
    )
    thread = threading.Thread(target=server.serve_forever, name="ris-hl7", daemon=True)
    thread.start()
    return server


def stop(server: Server) -> None:
    server.shutdown()
    server.server_close()
