"""How the listener takes TCP connections and reads PDUs, so that peers that are not
(yet) DICOM cannot lock modalities out.

A connection is *pending* from accept until its A-ASSOCIATE-RQ has fully arrived.
Pending connections are read here, not by pynetdicom, and never hold one of the
association slots (RIS_DICOM_MAX_ASSOCIATIONS):

- a pending budget, in all (RIS_DICOM_MAX_PENDING) and per peer address
  (RIS_DICOM_MAX_PENDING_PER_PEER): when a new connection finds it full, the oldest
  pending connection (of that address, else of any) is shed. A modality sends its
  request within milliseconds of connecting, so what is shed is whatever sat there
  longest without talking DICOM. Shedding is logged in one line and audited as a
  Security Alert (at most once a minute per address);
- a deadline: the A-ASSOCIATE-RQ (and the TLS handshake before it) must have arrived
  RIS_DICOM_ACSE_TIMEOUT seconds after accept, however it is trickled;
- a peer that closes, or sends anything but an A-ASSOCIATE-RQ of a sane size
  (MAX_ASSOCIATE_RQ) that decodes, frees its place at once.

Once associated, the socket (`BoundedSocket`) reads one whole PDU at a time for
pynetdicom's reader: each must arrive within RIS_DICOM_NETWORK_TIMEOUT seconds of its
first byte, and one announcing more than our maximum PDU length (RIS_DICOM_MAX_PDU,
plus the header) is aborted before any of its body is read. Every such end is logged
in one line naming the peer.

Accepted sockets get TCP_NODELAY, and TCP_QUICKACK again after each read (Linux).

With several listener processes (processes.py) each accepts on a socket its parent
bound (`Server(listening=...)`), and the association cap is checked here, once the
A-ASSOCIATE-RQ has arrived, against the count they share (`Server(cap=...)`): one
over it gets the A-ASSOCIATE-RJ pynetdicom sends for its own cap.

pynetdicom internals relied on are checked in tests/test_pinned_internals.py.
"""

import contextlib
import logging
import os
import queue
import select
import socket
import ssl
import struct
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from django.conf import settings
from django.db import close_old_connections, connections
from pynetdicom import evt
from pynetdicom.association import Association
from pynetdicom.dul import DULServiceProvider
from pynetdicom.pdu import A_ASSOCIATE_RQ
from pynetdicom.transport import AssociationSocket, RequestHandler, ThreadedAssociationServer

logger = logging.getLogger(__name__)

HEADER = 6  # PDU type, reserved, 4-byte length (PS3.8 9.3.1)
ASSOCIATE_RQ = 0x01
P_DATA_TF = 0x04
KNOWN_TYPES = frozenset(range(0x01, 0x08))
# An acceptor's association, once negotiated, only receives P-DATA, release and abort.
AFTER_ASSOCIATION = frozenset({0x04, 0x05, 0x06, 0x07})
# A-ASSOCIATE-RQ of sane size: 127 presentation contexts of a few transfer syntaxes
# each and the user information fit in a few KiB; 64 KiB is far above what any
# modality sends.
MAX_ASSOCIATE_RQ = 64 * 1024
# A-RELEASE-RQ/RP and A-ABORT carry 4 bytes (PS3.8 9.3.6-9.3.8); a little slack.
MAX_SMALL_PDU = 64
# When RIS_DICOM_MAX_PDU is 0 ("no maximum" announced), what we still read.
UNANNOUNCED_CEILING = 64 * 1024 * 1024
READ_CHUNK = 64 * 1024

# A-ABORT PDU, source DICOM UL service-provider (2) (PS3.8 9.3.8).
UNRECOGNIZED_PDU, UNEXPECTED_PDU, INVALID_PARAMETER = 0x01, 0x02, 0x06

QUICKACK = getattr(socket, "TCP_QUICKACK", None)
# The longest the reader and the association's loop sleep without news: how late they
# notice an expired ARTIM or idle timer.
WAIT_AT_MOST = 0.5
REPORT_INTERVAL = 60.0  # seconds between two shedding reports for one address


def abort_pdu(reason: int) -> bytes:
    return struct.pack(">BBLBBBB", 0x07, 0, 4, 0, 0, 0x02, reason)


def reject_pdu(result: int, source: int, diagnostic: int) -> bytes:
    """A-ASSOCIATE-RJ (PS3.8 9.3.4)."""
    return struct.pack(">BBLBBBB", 0x03, 0, 4, 0, result, source, diagnostic)


# A-ASSOCIATE-RJ for a full association cap, as pynetdicom sends it: rejected-transient,
# DICOM UL service-provider (presentation related function), local-limit-exceeded.
LOCAL_LIMIT_EXCEEDED = (0x02, 0x03, 0x02)


def share(total: int, processes: int) -> int:
    """One process's part of a budget of `total` split between `processes`."""
    return max(1, -(-max(1, total) // max(1, processes)))


@dataclass(frozen=True)
class Limits:
    association_deadline: float  # accept -> A-ASSOCIATE-RQ received (ACSE timeout)
    pdu_deadline: float  # first byte of a PDU -> its last (network timeout)
    max_pdu: int  # what we announce; 0 is "no maximum"
    pending: int
    pending_per_peer: int

    @classmethod
    def from_settings(cls, processes: int = 1) -> "Limits":
        """The limits of one listener process out of `processes`, each of which reads
        and sheds only the connections it accepted itself: the pending budget in all
        is split between them (rounded up), so the port holds no more than one process
        did; the budget per address is not, since a burst of modalities behind one
        address would then be shed sooner than by one process (capped by the
        process's part of the whole)."""
        pending = share(int(settings.RIS_DICOM_MAX_PENDING), processes)
        return cls(
            association_deadline=float(settings.RIS_DICOM_ACSE_TIMEOUT),
            pdu_deadline=float(settings.RIS_DICOM_NETWORK_TIMEOUT),
            max_pdu=int(settings.RIS_DICOM_MAX_PDU),
            pending=pending,
            pending_per_peer=min(pending, max(1, int(settings.RIS_DICOM_MAX_PENDING_PER_PEER))),
        )

    def longest(self, pdu_type: int) -> int:
        """The longest PDU length field accepted for a PDU of this type once
        associated. A P-DATA-TF's variable field is at most our maximum length (PS3.8
        D.1), the header's 6 bytes allowed on top for peers that count them in."""
        if pdu_type == P_DATA_TF:
            return (self.max_pdu + HEADER) if self.max_pdu else UNANNOUNCED_CEILING
        if pdu_type in (0x05, 0x06, 0x07):
            return MAX_SMALL_PDU
        return MAX_ASSOCIATE_RQ


# --- reading PDUs -------------------------------------------------------------------


class ReadFailed(Exception):
    """Why a connection ends while reading. `abort_reason` set: answer with an
    A-ABORT before closing."""

    abort_reason: int | None = None
    quiet = False

    def __init__(self, message: str):
        super().__init__(message)


class PeerClosed(ReadFailed):
    def __init__(self, got: int):
        super().__init__("the peer closed the connection" + (f" after {got} bytes" if got else ""))
        self.quiet = got == 0


class DeadlineExpired(ReadFailed):
    pass


class NotDicom(ReadFailed):
    abort_reason = UNRECOGNIZED_PDU


class Unexpected(ReadFailed):
    abort_reason = UNEXPECTED_PDU


class TooLong(ReadFailed):
    abort_reason = INVALID_PARAMETER


class Malformed(ReadFailed):
    abort_reason = INVALID_PARAMETER


class Shed(ReadFailed):
    quiet = True


def read_exact(sock, count: int, deadline: float, into: bytearray) -> None:
    """Append `count` bytes read from `sock` to `into`, all by `deadline`
    (time.monotonic()). Memory grows only with what arrives."""
    wanted = len(into) + count
    while len(into) < wanted:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExpired(f"{len(into)} bytes of a PDU of {wanted} by the deadline")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(min(wanted - len(into), READ_CHUNK))
        except TimeoutError:
            continue  # the loop checks the deadline
        except (ssl.SSLError, OSError):
            chunk = b""
        if not chunk:
            raise PeerClosed(len(into))
        into += chunk
        quickack(sock)


def read_pdu(sock, deadline: float, longest, expected: frozenset[int] = KNOWN_TYPES) -> bytes:
    """One whole PDU: its header, checked against `longest(pdu_type)` before any of
    its body is read, then the body."""
    data = bytearray()
    read_exact(sock, HEADER, deadline, data)
    pdu_type, _, length = struct.unpack(">BBL", data)
    if pdu_type not in KNOWN_TYPES:
        raise NotDicom(f"not DICOM (PDU type 0x{pdu_type:02X})")
    if pdu_type not in expected:
        raise Unexpected(f"unexpected PDU type 0x{pdu_type:02X}")
    if length > longest(pdu_type):
        raise TooLong(
            f"PDU type 0x{pdu_type:02X} announcing {length} bytes, "
            f"more than the {longest(pdu_type)} accepted"
        )
    read_exact(sock, length, deadline, data)
    return bytes(data)


def check_associate_rq(data: bytes) -> None:
    """Decode the request as pynetdicom will, so that a malformed one ends here in one
    line rather than in pynetdicom's reader with a traceback."""
    _checking.active = True  # what pynetdicom logs meanwhile is in our one line
    try:
        pdu = A_ASSOCIATE_RQ()
        pdu.decode(data)
        primitive = pdu.to_primitive()
        for context in primitive.presentation_context_definition_list:
            # An item without its abstract syntax decodes, then breaks negotiation.
            if context.abstract_syntax is None:
                raise ValueError(f"presentation context {context.context_id} names no SOP class")
    except Exception as exc:  # whatever the decoder trips on is the peer's fault
        raise Malformed(f"malformed A-ASSOCIATE-RQ ({type(exc).__name__}: {exc})") from None
    finally:
        _checking.active = False


_checking = threading.local()


# --- socket options -----------------------------------------------------------------


def tune(sock) -> None:
    """TCP_NODELAY: responses leave at once rather than wait for the peer's ACK of the
    previous segment (Nagle). TCP_QUICKACK: our ACKs leave at once so a peer with Nagle
    on is not held by our delayed ACK; the kernel clears it, hence quickack() after
    each read."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    quickack(sock)


def quickack(sock) -> None:
    if QUICKACK is None:
        return
    with contextlib.suppress(OSError, ValueError):
        sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)


# --- the pending budget -------------------------------------------------------------


@dataclass(eq=False)
class Pending:
    sock: socket.socket
    peer: str
    port: int
    since: float = field(default_factory=time.monotonic)
    shed: bool = False


class PendingBudget:
    """The connections accepted whose A-ASSOCIATE-RQ has not arrived yet, oldest
    first. Shared by the plain and the TLS server of one listener."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self._lock = threading.Lock()
        self._pending: OrderedDict[Pending, None] = OrderedDict()
        self._by_peer: dict[str, int] = {}
        self._reports: dict[str, tuple[float, int]] = {}

    def admit(self, entry: Pending) -> list[Pending]:
        """Register `entry`; the connections shed to make room for it (their sockets
        are shut down, which wakes their readers)."""
        shed = []
        with self._lock:
            if self._by_peer.get(entry.peer, 0) >= self.limits.pending_per_peer:
                shed.append(self._shed_oldest(entry.peer))
            if len(self._pending) >= self.limits.pending:
                shed.append(self._shed_oldest(None))
            self._pending[entry] = None
            self._by_peer[entry.peer] = self._by_peer.get(entry.peer, 0) + 1
        return [s for s in shed if s is not None]

    def leave(self, entry: Pending) -> bool:
        """`entry` is no longer pending; False if it was shed meanwhile."""
        with self._lock:
            if entry.shed:
                return False
            self._remove(entry)
            return True

    def count(self, peer: str | None = None) -> int:
        with self._lock:
            return len(self._pending) if peer is None else self._by_peer.get(peer, 0)

    def shed_all(self) -> None:
        """The listener stops: every pending connection is closed."""
        with self._lock:
            for entry in list(self._pending):
                self._shed(entry)

    def _shed_oldest(self, peer: str | None) -> Pending | None:
        for entry in self._pending:
            if peer is None or entry.peer == peer:
                self._shed(entry)
                return entry
        return None

    def _shed(self, entry: Pending) -> None:
        entry.shed = True
        self._remove(entry)
        with contextlib.suppress(OSError):
            entry.sock.shutdown(socket.SHUT_RDWR)

    def _remove(self, entry: Pending) -> None:
        if self._pending.pop(entry, False) is not False:
            left = self._by_peer[entry.peer] - 1
            if left:
                self._by_peer[entry.peer] = left
            else:
                del self._by_peer[entry.peer]

    def due_report(self, peer: str, shed: int) -> int:
        """How many shed connections of `peer` to report now (0: not yet, folded into
        the next report): at most one report per REPORT_INTERVAL and address."""
        now = time.monotonic()
        with self._lock:
            last, unreported = self._reports.get(peer, (float("-inf"), 0))
            unreported += shed
            if now - last < REPORT_INTERVAL:
                self._reports[peer] = (last, unreported)
                return 0
            if len(self._reports) > 4096:
                self._reports = {
                    p: r for p, r in self._reports.items() if now - r[0] < REPORT_INTERVAL
                }
            self._reports[peer] = (now, 0)
            return unreported


def report_shedding(budget: PendingBudget, victims: list[Pending], cause: Pending) -> None:
    for peer in dict.fromkeys(v.peer for v in victims):
        count = budget.due_report(peer, sum(1 for v in victims if v.peer == peer))
        if not count:
            continue
        limits = budget.limits
        message = (
            f"Shed {count} pending DICOM connection(s) from {peer} that sent no "
            f"A-ASSOCIATE-RQ: pending budget full ({limits.pending_per_peer} per address, "
            f"{limits.pending} in all), newest from {cause.peer}:{cause.port}"
        )
        logger.warning(message)
        audit_shedding(peer, message)


def audit_shedding(peer: str, message: str) -> None:
    """A Security Alert: someone holds connections open without talking DICOM."""
    from audit import context as audit_context
    from audit import services as audit_services
    from audit.codes import Action, Channel, Outcome, Verb

    context = audit_context.AuditContext(
        channel=Channel.DICOM,
        role="DICOM peer",
        source_ip=audit_context.normalised_ip(peer),
        detail=message[:255],
    )
    close_old_connections()
    try:
        with audit_context.bind(context):
            audit_services.record(
                Action.SECURITY_ALERT, verb=Verb.EXECUTE, outcome=Outcome.MINOR_FAILURE
            )
    except Exception:
        logger.exception("Cannot audit the shedding of connections from %s", peer)
    finally:
        connections.close_all()


# --- the associated socket ----------------------------------------------------------


class BoundedSocket(AssociationSocket):
    """pynetdicom's socket of one association, reading whole PDUs within their bounds
    (see the module's docstring). Made from the AssociationSocket pynetdicom's request
    handler creates (`adopt`), starting with the A-ASSOCIATE-RQ already read."""

    _limits: Limits
    _buffer: bytearray
    _finished: bool

    @classmethod
    def adopt(cls, sock: AssociationSocket, limits: Limits, first: bytes) -> "BoundedSocket":
        sock.__class__ = cls
        sock._limits = limits
        sock._buffer = bytearray(first)
        sock._finished = False
        return sock

    @property
    def ready(self) -> bool:
        """Data to read. Blocks until the peer sends something, the association has
        something to send (`wake`), or WAIT_AT_MOST passes: pynetdicom's reader then
        sleeps in select instead of polling the socket every millisecond."""
        if self._buffer:
            return True
        sock = self.socket
        if self._finished or sock is None or sock.fileno() < 0:
            return False
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        waker = getattr(self, "_waker", None)
        watched = [sock] if waker is None else [sock, waker.readable]
        # Without a waker (not yet, or no longer, event driven) a poll, as pynetdicom's.
        # The reader handles one event a turn: with events queued, only a poll; so too
        # in Sta13, where pynetdicom reads what is left and otherwise closes at once.
        dul = self.assoc.dul
        busy = (
            waker is None
            or not dul.event_queue.empty()
            or dul.state_machine.current_state == "Sta13"
        )
        try:
            readable, _, _ = select.select(watched, [], [], 0 if busy else WAIT_AT_MOST)
        except (OSError, ValueError):
            return False
        if waker is not None and waker.readable in readable:
            waker.clear()
        return sock in readable

    def recv(self, nr_bytes: int) -> bytearray:
        if not self._buffer and not self._finished:
            self._read_next()
        chunk = self._buffer[:nr_bytes]
        del self._buffer[:nr_bytes]
        return chunk

    def _read_next(self) -> None:
        deadline = time.monotonic() + self._limits.pdu_deadline
        try:
            self._buffer += read_pdu(self.socket, deadline, self._limits.longest, AFTER_ASSOCIATION)
        except ReadFailed as exc:
            self._end(exc)
        finally:
            if self.socket is not None and self.socket.fileno() >= 0:
                self._restore_timeout()

    def _restore_timeout(self) -> None:
        # Sends are bounded too: a peer that stops reading our responses.
        with contextlib.suppress(OSError):
            self.socket.settimeout(self._limits.pdu_deadline)

    def _end(self, exc: ReadFailed) -> None:
        """Nothing more is read: the empty read that follows is pynetdicom's
        "transport connection closed" (Evt17), which ends the association."""
        self._finished = True
        if not exc.quiet and first_line(self.assoc):
            logger.warning("Aborted association with %s: %s", peer_of(self.assoc), exc)
        if exc.abort_reason is not None:
            with contextlib.suppress(OSError):
                self.socket.sendall(abort_pdu(exc.abort_reason))
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)


# --- one line per association -------------------------------------------------------

LOGGED = "ris_end_logged"  # attribute of an Association: its one line was written

# The loggers of pynetdicom's network layers, whose errors on malformed input come as
# a message, then the exception with its traceback, then the state machine's own. Not
# those of the service classes, events and association, which report exceptions in
# the RIS's own handlers: those keep their tracebacks.
NETWORK_LOGGERS = (
    "pynetdicom.acse",
    "pynetdicom.dimse",
    "pynetdicom.dimse_messages",
    "pynetdicom.dimse_primitives",
    "pynetdicom.dsutils",
    "pynetdicom.dul",
    "pynetdicom.fsm",
    "pynetdicom.pdu",
    "pynetdicom.pdu_items",
    "pynetdicom.pdu_primitives",
    "pynetdicom.presentation",
    "pynetdicom.transport",
    "pynetdicom.utils",
    "pynetdicom._validators",
)


def peer_of(assoc) -> str:
    requestor = assoc.requestor
    calling = str(getattr(requestor, "ae_title", "") or "").strip() or "?"
    return f"{calling} at {requestor.address}:{requestor.port}"


def first_line(assoc) -> bool:
    """True the first time it is asked for an association: its one line is due."""
    if getattr(assoc, LOGGED, False):
        return False
    setattr(assoc, LOGGED, True)
    return True


def association_of(thread) -> Association | None:
    if isinstance(thread, Association):
        return thread
    if isinstance(thread, DULServiceProvider):
        return thread.assoc
    return None


class OneLinePerAssociation(logging.Filter):
    """What pynetdicom's network layers log at WARNING and above while serving an
    association we accepted becomes one line naming the peer, with the exception's
    message and no traceback; anything after it for that association is dropped.
    `reader_only`: only in pynetdicom's reader thread (pydicom's own warnings while it
    decodes a command set; the handlers decode data sets in the association's
    thread, and keep theirs)."""

    def __init__(self, reader_only: bool = False):
        super().__init__()
        self.reader_only = reader_only

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        if getattr(_checking, "active", False):
            return False
        thread = threading.current_thread()
        if self.reader_only and not isinstance(thread, DULServiceProvider):
            return True
        assoc = association_of(thread)
        if assoc is None or not assoc.is_acceptor:
            return True
        if not first_line(assoc):
            return False
        message = record.getMessage()
        exc = record.exc_info[1] if record.exc_info else sys.exc_info()[1]
        if exc is not None and (not str(exc) or str(exc) not in message):
            message = f"{message} ({type(exc).__name__}: {exc})"
        record.msg, record.args = "Association with %s ended: %s", (peer_of(assoc), message)
        record.exc_info, record.exc_text = None, None
        return True


def install_log_filter() -> None:
    for name in (*NETWORK_LOGGERS, "pydicom"):
        target = logging.getLogger(name)
        if not any(isinstance(f, OneLinePerAssociation) for f in target.filters):
            target.addFilter(OneLinePerAssociation(reader_only=name == "pydicom"))


def guard_reader(assoc) -> None:
    """pynetdicom's reader thread dies on some malformed messages (an exception out of
    its state machine): end the association with an A-ABORT and one line instead of a
    thread traceback on stderr. The association's own loop then sees the reader gone
    and stops."""
    dul = assoc.dul
    run = dul.run

    def guarded() -> None:
        try:
            run()
        except Exception as exc:
            if first_line(assoc):
                logger.warning(
                    "Association with %s ended: %s: %s", peer_of(assoc), type(exc).__name__, exc
                )
            sock = getattr(dul.socket, "socket", None)
            if sock is not None:
                with contextlib.suppress(OSError, ValueError):
                    sock.sendall(abort_pdu(0x00))
                with contextlib.suppress(OSError, ValueError):
                    sock.shutdown(socket.SHUT_RDWR)

    dul.run = guarded


# --- waiting on events instead of polling ---------------------------------------------


class Waker:
    """A pipe whose read end select() watches, written to when there is news."""

    def __init__(self):
        self.readable, self._writable = os.pipe()
        os.set_blocking(self.readable, False)
        os.set_blocking(self._writable, False)

    def set(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._writable, b"!")

    def clear(self) -> None:
        with contextlib.suppress(OSError):
            while os.read(self.readable, 4096):
                pass

    def close(self) -> None:
        for fd in (self.readable, self._writable):
            with contextlib.suppress(OSError):
                os.close(fd)


class WakingQueue(queue.Queue):
    """A queue that calls `wake` when something is put on it."""

    def __init__(self, wake):
        super().__init__()
        self.wake = wake

    def _put(self, item) -> None:
        super()._put(item)
        self.wake()


def make_event_driven(assoc, sock: BoundedSocket) -> None:
    """pynetdicom's reader (DUL) and the association's own loop both poll every
    millisecond, some 60 ms of CPU a second for an idle association. Here they wait:

    - the reader in select() on the socket and a pipe written when the association
      queues something to send (`to_provider_queue`) or stops it (`stop_dul`,
      `kill_dul`), without sleeping between turns (`_run_loop_delay` 0);
    - the association's loop (`association_loop`, in place of
      ``Association._run_reactor``) on an event set when the reader queues a DIMSE
      message or an ACSE primitive for it, or stops.

    The pipe is closed when the association's thread ends.
    """
    dul = assoc.dul
    to_reader, news = Waker(), threading.Event()
    sock._waker = to_reader
    dul.to_provider_queue = WakingQueue(to_reader.set)
    dul.to_user_queue = WakingQueue(news.set)
    assoc.dimse.msg_queue = WakingQueue(news.set)
    dul._run_loop_delay = 0
    kill_dul = dul.kill_dul

    def stop_dul() -> bool:
        if dul.state_machine.current_state != "Sta1":
            return False
        dul._kill_thread = True
        to_reader.set()
        if threading.current_thread() is not dul and dul.is_alive():
            dul.join()
        return True

    def killing_dul() -> None:
        kill_dul()
        to_reader.set()

    dul.stop_dul, dul.kill_dul = stop_dul, killing_dul
    assoc._run_reactor = lambda: association_loop(assoc, news)
    reader_run, association_run = dul.run, assoc.run

    def reader() -> None:
        try:
            reader_run()
        finally:
            news.set()

    def association() -> None:
        try:
            association_run()
        finally:
            dul._kill_thread = True
            to_reader.set()
            if dul.is_alive():
                dul.join(WAIT_AT_MOST * 4)
            sock._waker = None
            to_reader.close()

    dul.run, assoc.run = reader, association


def association_loop(assoc, news: threading.Event) -> None:
    """``Association._run_reactor`` of pynetdicom (checked against its source in
    tests/test_pinned_internals.py), waiting on `news` where it slept 1 ms a turn."""
    assoc._is_paused = False
    while not assoc._kill:
        timer = assoc.dul._idle_timer
        wait = WAIT_AT_MOST
        if timer.timeout is not None:
            wait = max(0.0, min(wait, timer.remaining))
        if assoc.dimse.msg_queue.empty() and assoc.dul.to_user_queue.empty():
            news.wait(wait)
        news.clear()

        assoc._is_paused = True
        assoc._reactor_checkpoint.wait()
        assoc._is_paused = False

        context_id, msg = assoc.dimse.get_msg(block=False)
        if msg:
            assoc._serve_request(msg, context_id)

        if assoc.is_established and assoc.acse.is_release_requested():
            assoc.acse.send_release(is_response=True)
            assoc.is_released = True
            assoc.is_established = False
            evt.trigger(assoc, evt.EVT_RELEASED, {})
            assoc.kill()
            return

        if assoc.acse.is_aborted():
            assoc.dul.receive_pdu(wait=False)
            assoc.is_aborted = True
            assoc.is_established = False
            evt.trigger(assoc, evt.EVT_ABORTED, {})
            assoc.kill()
            return

        if not assoc.dul.is_alive():
            assoc.kill()
            return

        if assoc.dul.idle_timer_expired():
            if first_line(assoc):
                logger.warning(
                    "Association with %s ended: nothing received for %g s (network timeout)",
                    peer_of(assoc),
                    assoc.network_timeout,
                )
            assoc.abort()
            assoc.kill()
            return


# --- server and request handler -----------------------------------------------------


class Handler(RequestHandler):
    """Reads a new connection's A-ASSOCIATE-RQ under the pending budget, then hands the
    connection to pynetdicom as an association."""

    server: "Server"

    def handle(self) -> None:
        server = self.server
        peer, port = str(self.client_address[0]), int(self.client_address[1])
        entry = Pending(self.request, peer, port)
        victims = server.budget.admit(entry)
        if victims:
            # Apart: the audit write must not hold this connection's reading.
            threading.Thread(
                target=report_shedding, args=(server.budget, victims, entry), daemon=True
            ).start()
        tune(self.request)
        deadline = entry.since + server.limits.association_deadline
        try:
            first = self._read_request(deadline)
            if not server.budget.leave(entry):
                raise Shed("shed")
        except ReadFailed as exc:
            server.budget.leave(entry)
            self._refuse(entry, exc)
            return
        if server.cap is not None and not server.cap.take():
            self._refuse_over_cap(entry, first)
            return
        try:
            assoc = self._create_association()
            sock = BoundedSocket.adopt(assoc.dul.socket, server.limits, first)
            guard_reader(assoc)
            make_event_driven(assoc, sock)
            if server.cap is not None:
                hold_slot(assoc, server.cap)
            evt.trigger(assoc, evt.EVT_CONN_OPEN, {"address": self.client_address})
            assoc.start()
        except BaseException:
            if server.cap is not None:  # the association's thread never ran
                server.cap.give_back()
            raise

    def _read_request(self, deadline: float) -> bytes:
        sock = self.request
        if isinstance(sock, ssl.SSLSocket):
            self._handshake(sock, deadline)
        data = read_pdu(sock, deadline, lambda _type: MAX_ASSOCIATE_RQ, frozenset({ASSOCIATE_RQ}))
        check_associate_rq(data)
        sock.settimeout(self.server.limits.pdu_deadline)
        return data

    @staticmethod
    def _handshake(sock: ssl.SSLSocket, deadline: float) -> None:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            sock.do_handshake()
        except TimeoutError:
            raise DeadlineExpired("no TLS handshake by the deadline") from None
        except (ssl.SSLError, OSError) as exc:
            raise NotDicom(f"TLS handshake failed ({exc})") from None

    def _refuse_over_cap(self, entry: Pending, request: bytes) -> None:
        """The association cap shared by several listener processes is full: the
        A-ASSOCIATE-RJ pynetdicom sends for its own cap, and the same line."""
        called, calling = (request[at : at + 16].decode("ascii", "replace") for at in (10, 26))
        called, calling = called.strip(), calling.strip()
        logger.warning(
            "Rejected association from calling AE %s at %s:%s to called AE %s: "
            "Local limit exceeded (%s associations in all listener processes)",
            calling or "?",
            entry.peer,
            entry.port,
            called,
            self.server.cap.limit,
        )
        try:
            self.request.settimeout(1)
            self.request.sendall(reject_pdu(*LOCAL_LIMIT_EXCEEDED))
        except OSError:
            pass
        self.server.shutdown_request(self.request)

    def _refuse(self, entry: Pending, exc: ReadFailed) -> None:
        if not exc.quiet and not entry.shed:
            limits = self.server.limits
            if isinstance(exc, DeadlineExpired):
                reason = f"no A-ASSOCIATE-RQ within {limits.association_deadline:g} s ({exc})"
            else:
                reason = str(exc)
            logger.warning(
                "Closed DICOM connection from %s:%s before association: %s",
                entry.peer,
                entry.port,
                reason,
            )
        if exc.abort_reason is not None and not entry.shed:
            try:
                self.request.settimeout(1)
                self.request.sendall(abort_pdu(exc.abort_reason))
            except OSError:
                pass
        self.server.shutdown_request(self.request)


def hold_slot(assoc, cap) -> None:
    """The association's slot of the shared cap is given back when its thread ends,
    however it ends."""
    run = assoc.run

    def holding() -> None:
        try:
            run()
        finally:
            cap.give_back()

    assoc.run = holding


class CheapCopies(list):
    """The server's supported presentation contexts. pynetdicom deep-copies them for
    every association (RequestHandler._create_association), UID by UID, each UID
    validated again: some 60 ms of CPU an association for the storage classes'
    hundreds of contexts. Negotiation as acceptor only reads them (pinned by
    tests/test_pinned_internals.py), so each association gets a list of its own
    holding the same context objects; copying each of them as well still cost 0.3-0.5
    ms an association (bench/README.md, "MPPS receiver")."""

    def __deepcopy__(self, memo) -> list:
        return list(self)


class Server(ThreadedAssociationServer):
    """pynetdicom's threaded server with our request handler; the TLS handshake is
    left to the handler's thread, under the deadline, instead of the accept loop."""

    daemon_threads = True
    # The kernel's queue of connections not yet accepted (socketserver's default is 5:
    # a burst beyond it waits out a SYN retransmission, a second or more).
    request_queue_size = 1024

    def __init__(self, *args, budget: PendingBudget, listening=None, cap=None, **kwargs):
        self.budget = budget
        self.limits = budget.limits
        # Set by a listener process of several: the socket its parent bound and the
        # association cap they share (worklist/dicom/processes.py).
        self.listening = listening
        self.cap = cap
        kwargs.setdefault("request_handler", Handler)
        super().__init__(*args, **kwargs)
        self.contexts = CheapCopies(self.contexts)

    def server_bind(self) -> None:
        if self.listening is None:
            super().server_bind()
            return
        self.socket.close()
        self.socket = self.listening
        self.server_address = self.socket.getsockname()

    def server_activate(self) -> None:
        if self.listening is None:
            super().server_activate()

    def server_close(self) -> None:
        """A socket shared with other processes is only closed here: shutting it down
        would stop it listening for them too."""
        if self.listening is None:
            super().server_close()
        else:
            self.socket.close()

    def get_request(self):
        client, address = self.socket.accept()
        if self.ssl_context:
            client = self.ssl_context.wrap_socket(
                client, server_side=True, do_handshake_on_connect=False
            )
        return client, address

    def shutdown(self) -> None:
        super().shutdown()
        self.budget.shed_all()

    def service_actions(self) -> None:
        """Nothing. pynetdicom's server forces a full gc.collect() on every 60th turn
        of its accept loop (every 60th association under load), which walks the whole
        heap of Django, pydicom and the answers' memo: 17-22 ms each here, 9-22 % of
        the listener's samples for worklist queries (py-spy, bench/README.md).
        Python's own generational collector frees an association's reference cycles
        as it goes (tests/dicom/test_listener_gc.py)."""


def serve(
    ae,
    address,
    *,
    evt_handlers,
    budget: PendingBudget,
    ssl_context=None,
    listening: socket.socket | None = None,
    cap=None,
) -> ThreadedAssociationServer:
    """Start listening in a background thread, as AE.start_server(block=False) does,
    with this module's server. `listening`: accept on this socket, bound and listening
    already (shared with other listener processes, non-blocking), instead of binding
    `address`; `cap`: the association cap those processes share."""
    install_log_filter()
    server = ae.make_server(
        address,
        ssl_context=ssl_context,
        evt_handlers=evt_handlers,
        server_class=Server,
        budget=budget,
        listening=listening,
        cap=cap,
    )
    thread = threading.Thread(
        target=server.serve_forever, name=f"AcceptorServer@{address[1]}", daemon=True
    )
    thread.start()
    # AE.shutdown() stops the servers it lists; AssociationServer.shutdown() takes
    # itself off that list.
    ae._servers.append(server)
    return server
