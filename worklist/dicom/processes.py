"""Several DICOM listener processes serving one port (RIS_DICOM_PROCESSES).

One Python process answers on one core at a time (the GIL). With RIS_DICOM_PROCESSES
above 1, `dicomserver` and `runris` run the listener as a parent and that many
children:

- the parent binds the listening sockets (the plain port and, when configured, the
  TLS port; port 0 resolves to one real port for all), closes its database
  connections and forks the children. Each child runs the same AE (every service:
  C-ECHO, worklist, MPPS, C-STORE, IAN) accepting on the inherited sockets; the kernel
  hands each new connection to whichever child accepts first;
- the association cap (RIS_DICOM_MAX_ASSOCIATIONS) holds across all children
  (`AssociationCap`). Each child reads and sheds only the connections it accepted:
  the pending budget in all (RIS_DICOM_MAX_PENDING) is split between them, the budget
  per address is each one's own (transport.Limits.from_settings);
- a child that dies is logged and started again (at once if it had run for a while,
  after a backoff doubling up to MAX_BACKOFF if it keeps dying early); the others keep
  serving meanwhile;
- with no broker, tasks a child asks for later (a study's reconciliation at the end
  of its quiet period) go through a pipe to the parent's in-process scheduler
  (ris/inprocess.py), which `runris` runs;
- SIGTERM or SIGINT to the parent (`stop`) sends SIGTERM to every child, which aborts
  its open associations, closes its sockets and exits 0; one still running after
  STOP_SECONDS is killed. A child whose parent has gone stops by itself.

Each start, death, restart and stop is one log line naming the child's pid.
"""

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait

from django.db import connections
from pynetdicom.transport import AddressInformation

from ris import inprocess

logger = logging.getLogger(__name__)

FORK = multiprocessing.get_context("fork")
# The kernel's queue of connections not yet accepted, as transport.Server's.
BACKLOG = 1024
STABLE_SECONDS = 10.0  # a child that ran this long before dying is restarted at once
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 30.0
STOP_SECONDS = 10.0
CHECK_EVERY = 0.5  # how often a child looks for its parent, the parent for its children


class AssociationCap:
    """RIS_DICOM_MAX_ASSOCIATIONS across processes. Each child counts its open
    associations in its own cell of a shared array; a new one takes a slot only while
    the sum of all cells is under the limit, checked and counted under one lock. When a
    child dies its associations die with it: the parent clears its cell (`forget`)
    before starting the next one in its place."""

    def __init__(self, limit: int, processes: int):
        self.limit = max(1, limit)
        self._lock = FORK.Lock()
        self._held = FORK.RawArray("i", processes)
        self.index = -1  # the child's cell, set in the child

    def take(self) -> bool:
        with self._lock:
            if sum(self._held) >= self.limit:
                return False
            self._held[self.index] += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self._held[self.index] -= 1

    def held(self) -> int:
        with self._lock:
            return sum(self._held)

    def forget(self, index: int) -> None:
        """The child of `index` is dead. Should it have died inside the few
        instructions run under the lock (SIGKILL), the lock stays taken for ever: the
        parent then frees it, after waiting far longer than anyone holds it."""
        if not self._lock.acquire(timeout=2):
            logger.warning("A dead DICOM listener process held the association count: freed")
        self._held[index] = 0
        self._lock.release()


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, as pynetdicom's server binds one, non-blocking: every child
    that wakes for a new connection tries to accept it and all but one find none."""
    family = AddressInformation.from_tuple((host, port)).address_family
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass(frozen=True)
class Listening:
    """What the parent listens on, for what callers print (as a server's)."""

    server_address: tuple


@dataclass
class Child:
    index: int
    process: multiprocessing.process.BaseProcess | None = None
    started: float = 0.0
    early_deaths: int = 0
    restart_at: float | None = None
    tasks: Connection | None = None  # the parent's end of the pipe of tasks asked for later


class ListenerProcesses:
    """The parent of the listener processes. `serve(index, sockets, cap)` runs in a
    child: it starts the servers on the inherited sockets and returns something
    `shutdown(server)` stops."""

    def __init__(
        self,
        *,
        count: int,
        ae_title: str,
        sockets: dict[str, socket.socket],
        cap: AssociationCap,
        serve: Callable,
        shutdown: Callable,
    ):
        self.count = count
        self.ae_title = ae_title
        self.sockets = sockets
        self.cap = cap
        self._serve = serve
        self._shutdown = shutdown
        self.children = [Child(index) for index in range(count)]
        self._stopping = threading.Event()
        self._supervisor = threading.Thread(
            target=self._supervise, name="dicom-listener-supervisor", daemon=True
        )
        self.server_address = sockets["plain"].getsockname()
        self.tls = Listening(sockets["tls"].getsockname()) if "tls" in sockets else None

    # --- the parent ---

    def start(self) -> "ListenerProcesses":
        for child in self.children:
            self._fork(child)
        self._supervisor.start()
        return self

    def pids(self) -> list[int]:
        return [c.process.pid for c in self.children if c.process is not None]

    def _fork(self, child: Child) -> None:
        # A database connection must never be shared by two processes.
        connections.close_all()
        tasks = FORK.Pipe(duplex=False) if inprocess.runs_here() else (None, None)
        process = FORK.Process(
            target=run_child,
            args=(child.index, self.sockets, self.cap, self._serve, self._shutdown),
            kwargs={"parent": os.getpid(), "tasks": tasks[1]},
            name=f"dicom-listener-{child.index + 1}",
            daemon=True,  # terminated by multiprocessing should this process exit unstopped
        )
        process.start()
        if tasks[1] is not None:
            tasks[1].close()
        child.process, child.started, child.restart_at = process, time.monotonic(), None
        child.tasks = tasks[0]

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            watched = [c.process.sentinel for c in self.children if c.process is not None]
            watched += [c.tasks for c in self.children if c.tasks is not None]
            wait(watched, timeout=CHECK_EVERY)
            if self._stopping.is_set():
                return
            now = time.monotonic()
            for child in self.children:
                self._pass_on_tasks(child)
                if child.process is not None and child.process.exitcode is not None:
                    self._buried(child, now)
                if child.restart_at is not None and child.restart_at <= now:
                    self._fork(child)

    @staticmethod
    def _pass_on_tasks(child: Child) -> None:
        """What the child asked to run later, to this process's scheduler."""
        try:
            while child.tasks is not None and child.tasks.poll():
                delay, task, args = child.tasks.recv()
                inprocess.call_later(delay, task, *args)
        except (EOFError, OSError):
            child.tasks.close()
            child.tasks = None

    def _buried(self, child: Child, now: float) -> None:
        process = child.process
        process.join()
        self._pass_on_tasks(child)
        if child.tasks is not None:
            child.tasks.close()
            child.tasks = None
        self.cap.forget(child.index)
        if now - child.started >= STABLE_SECONDS:
            child.early_deaths = 0
            delay = 0.0
        else:
            delay = min(MAX_BACKOFF, FIRST_BACKOFF * 2**child.early_deaths)
            child.early_deaths += 1
        logger.warning(
            "DICOM listener process %d (pid %d) %s; restarting it in %g s",
            child.index + 1,
            process.pid,
            exit_description(process.exitcode),
            delay,
        )
        child.process, child.restart_at = None, now + delay

    def stop(self) -> None:
        """Every child stops (SIGTERM: open associations aborted), then the sockets
        close."""
        self._stopping.set()
        if self._supervisor.is_alive():
            self._supervisor.join()
        running = [c for c in self.children if c.process is not None]
        deadline = time.monotonic() + STOP_SECONDS
        while running and time.monotonic() < deadline:
            for child in running:
                # Again each turn: a child forked just now may not have its handler yet.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.process.pid, signal.SIGTERM)
            wait([c.process.sentinel for c in running], timeout=CHECK_EVERY)
            running = [c for c in running if c.process.exitcode is None]
        for child in running:
            logger.warning(
                "DICOM listener process %d (pid %d) still running %g s after SIGTERM: killed",
                child.index + 1,
                child.process.pid,
                STOP_SECONDS,
            )
            child.process.kill()
        for child in self.children:
            if child.process is not None:
                child.process.join()
                if child.process.exitcode != 0:
                    logger.warning(
                        "DICOM listener process %d (pid %d) %s while stopping",
                        child.index + 1,
                        child.process.pid,
                        exit_description(child.process.exitcode),
                    )
            if child.tasks is not None:
                child.tasks.close()
                child.tasks = None
        for sock in self.sockets.values():
            sock.close()


def exit_description(code: int | None) -> str:
    if code is None:
        return "is running"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with status {code}"


# --- a child ------------------------------------------------------------------------


def run_child(index, sockets, cap, serve, shutdown, *, parent: int, tasks) -> None:
    """The body of a listener process: serve until SIGTERM/SIGINT or until the parent
    is gone, then stop as a single listener does (associations aborted)."""
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, frame: stopping.set())
    # The parent's scheduler thread (runris without a broker) is not here.
    inprocess.forward_to(tasks)
    cap.index = index
    server = serve(index, sockets, cap)
    pid = os.getpid()
    logger.info("DICOM listener process %d started (pid %d)", index + 1, pid)
    while not stopping.wait(CHECK_EVERY):
        if os.getppid() != parent:
            logger.warning("DICOM listener process %d (pid %d): parent gone", index + 1, pid)
            break
    shutdown(server)
    logger.info("DICOM listener process %d stopped (pid %d)", index + 1, pid)
