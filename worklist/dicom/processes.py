"""Several DICOM listener processes serving one port (RIS_DICOM_PROCESSES).

One Python process answers on one core at a time (the GIL). With RIS_DICOM_PROCESSES
above 1, `dicomserver` and `runris` run the listener as a tree of processes:

- the command's process binds the listening sockets (the plain port and, when
  configured, the TLS port; port 0 resolves to one real port for all), closes its
  database connections and pools, and forks one *supervisor* process;
- the supervisor forks the listener processes and starts a new one in place of one
  that dies. It runs no thread and opens no database connection, so every fork
  happens in a process holding nothing that must not be shared (a fork from a
  process with threads copies whatever they hold half-done);
- each listener process runs the same AE (every service: C-ECHO, worklist, MPPS,
  C-STORE, IAN) accepting on the inherited sockets; the kernel hands each new
  connection to whichever accepts first;
- the association cap (RIS_DICOM_MAX_ASSOCIATIONS) holds across all listener
  processes (`AssociationCap`). Each reads and sheds only the connections it
  accepted: the pending budget in all (RIS_DICOM_MAX_PENDING) is split between them,
  the budget per address is each one's own (transport.Limits.from_settings);
- a listener process that dies is logged and started again (at once if it had run
  for a while, after a back-off doubling up to MAX_BACKOFF if it keeps dying early);
  the others keep serving meanwhile;
- with no broker, what a listener process asks to run later (a study's reconciliation
  at the end of its quiet period) goes through a pipe to the command's in-process
  scheduler (ris/inprocess.py), which `runris` runs;
- SIGTERM or SIGINT to the command (`stop`) reaches the supervisor, which sends
  SIGTERM to every listener process: each aborts its open associations, closes its
  sockets and exits 0; one still running after STOP_SECONDS is killed. A process
  whose parent has gone stops by itself.

Each start, death, restart and stop is one log line naming the process's pid.
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
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait

from django.db import connections
from pynetdicom.transport import AddressInformation

from ris import inprocess

logger = logging.getLogger(__name__)

FORK = multiprocessing.get_context("fork")
# The kernel's queue of connections not yet accepted, as transport.Server's.
BACKLOG = 1024
STABLE_SECONDS = 10.0  # a process that ran this long before dying is restarted at once
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 30.0
STOP_SECONDS = 10.0
CHECK_EVERY = 0.5  # how often a process looks for its parent, a parent for its children
# A supervisor that stopped cleanly (exit 0) was most often sent the stop signal with
# this process: Ctrl-C in a terminal and a service manager stopping the unit (systemd's
# control group) signal the whole tree at once. This long is left for this process to
# stop the listener itself before the supervisor counts as lost: `runris` stops the web
# server first (gunicorn's graceful stop, up to 10 s).
STOP_GRACE = 15.0


class AssociationCap:
    """RIS_DICOM_MAX_ASSOCIATIONS across processes. Each listener process counts its
    open associations in its own cell of a shared array; a new one takes a slot only
    while the sum of all cells is under the limit, checked and counted under one lock.
    When a process dies its associations die with it: the supervisor clears its cell
    (`forget`) before starting the next one in its place."""

    def __init__(self, limit: int, processes: int):
        self.limit = max(1, limit)
        self._lock = FORK.Lock()
        self._held = FORK.RawArray("i", processes)
        self.index = -1  # the listener process's cell, set in that process

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
        """The process of `index` is dead. Should it have died inside the few
        instructions run under the lock (SIGKILL), the lock stays taken for ever: it is
        freed here, after waiting far longer than anyone holds it."""
        if not self._lock.acquire(timeout=2):
            logger.warning("A dead DICOM listener process held the association count: freed")
        self._held[index] = 0
        self._lock.release()


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, as pynetdicom's server binds one, non-blocking: every
    listener process that wakes for a new connection tries to accept it and all but
    one find none."""
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
    """What the command listens on, for what callers print (as a server's)."""

    server_address: tuple


@dataclass(frozen=True)
class Plan:
    """What the supervisor needs to start a listener process. `serve(index, sockets,
    cap)` runs in that process: it starts the servers on the inherited sockets and
    returns something `shutdown(server)` stops."""

    count: int
    sockets: dict
    cap: AssociationCap
    serve: Callable
    shutdown: Callable
    tasks: Connection | None  # the sending end of the pipe of tasks asked for later


class ListenerProcesses:
    """The command's side: the sockets, the supervisor process, and the tasks the
    listener processes ask for later."""

    def __init__(
        self,
        *,
        count: int,
        ae_title: str,
        sockets: dict[str, socket.socket],
        cap: AssociationCap,
        serve: Callable,
        shutdown: Callable,
        forward_tasks: bool = False,
    ):
        self.count = count
        self.ae_title = ae_title
        self.sockets = sockets
        self.cap = cap
        self._tasks, sending = FORK.Pipe(duplex=False) if forward_tasks else (None, None)
        self._plan = Plan(count, sockets, cap, serve, shutdown, sending)
        self.supervisor: multiprocessing.process.BaseProcess | None = None
        self._stopping = threading.Event()
        self._restarting = threading.Lock()
        self._watcher = threading.Thread(
            target=self._watch, name="dicom-listener-watcher", daemon=True
        )
        self.server_address = sockets["plain"].getsockname()
        self.tls = Listening(sockets["tls"].getsockname()) if "tls" in sockets else None

    def start(self) -> "ListenerProcesses":
        self._fork_supervisor()
        self._watcher.start()
        return self

    def _fork_supervisor(self) -> None:
        # Nothing of the database may be shared with another process: its connections
        # closed, and the pools with them (recreated here when next needed).
        connections.close_all()
        for connection in connections.all():
            close_pool = getattr(connection, "close_pool", None)  # PostgreSQL's
            if close_pool is not None:
                close_pool()
        self.supervisor = FORK.Process(
            target=supervise,
            args=(self._plan,),
            kwargs={"parent": os.getpid()},
            name="dicom-listener-supervisor",
            daemon=False,  # it has children of its own; it stops when this process goes
        )
        with signals_held():
            self.supervisor.start()

    def _watch(self) -> None:
        """Pass the tasks asked for later to this process's scheduler; start another
        supervisor should this one die (its listener processes stop when they see it
        gone). That fork is from this thread, the one fork not from a process without
        threads: a rare event (the supervisor only waits)."""
        while not self._stopping.is_set():
            watched = [self.supervisor.sentinel]
            if self._tasks is not None:
                watched.append(self._tasks)
            wait(watched, timeout=CHECK_EVERY)
            self._pass_on_tasks()
            if self._stopping.is_set():
                return
            if self.supervisor.exitcode is not None:
                if self.supervisor.exitcode == 0 and self._stopping.wait(STOP_GRACE):
                    return  # stopped by the signal that stops this process too
                with self._restarting:
                    if self._stopping.is_set():
                        return
                    self._replace_supervisor()

    def _replace_supervisor(self) -> None:
        logger.error(
            "DICOM listener supervisor (pid %d) %s; starting another",
            self.supervisor.pid,
            exit_description(self.supervisor.exitcode),
        )
        self.supervisor.join()
        time.sleep(FIRST_BACKOFF)
        # Its listener processes stop by themselves, their count with them.
        self._plan = replace(self._plan, cap=AssociationCap(self.cap.limit, self.count))
        self.cap = self._plan.cap
        self._fork_supervisor()

    def _pass_on_tasks(self) -> None:
        try:
            while self._tasks is not None and self._tasks.poll():
                delay, task, args = self._tasks.recv()
                if not inprocess.call_later(delay, task, *args):
                    logger.warning("No in-process scheduler for task %s", task)
        except (EOFError, OSError):
            self._tasks.close()
            self._tasks = None

    def stop(self) -> None:
        """The supervisor stops every listener process (SIGTERM: open associations
        aborted) and exits; then the sockets close."""
        self._stopping.set()
        with self._restarting:  # no supervisor is being replaced, nor will be
            supervisor = self.supervisor
        deadline = time.monotonic() + STOP_SECONDS + 5
        while supervisor.exitcode is None and time.monotonic() < deadline:
            # Again each turn: one forked just now may not have its handler yet.
            with contextlib.suppress(ProcessLookupError):
                os.kill(supervisor.pid, signal.SIGTERM)
            supervisor.join(CHECK_EVERY)
        if supervisor.exitcode is None:
            logger.warning("DICOM listener supervisor (pid %d) not stopped: killed", supervisor.pid)
            supervisor.kill()
            supervisor.join()
        elif supervisor.exitcode != 0:
            logger.warning(
                "DICOM listener supervisor (pid %d) %s while stopping",
                supervisor.pid,
                exit_description(supervisor.exitcode),
            )
        if self._watcher.is_alive():
            self._watcher.join()
        self._pass_on_tasks()
        for end in (self._tasks, self._plan.tasks):
            if end is not None:
                end.close()
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


STOP = (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def signals_held():
    """SIGTERM and SIGINT held back in this thread while it forks, so that the new
    process, which starts with the same mask, hears them only once it has handlers of
    its own (before, one would end it or set its parent's flag)."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class StopSignals:
    """SIGTERM and SIGINT (Ctrl-C reaches the whole process group) ask this process to
    stop. The handler only sets a flag: one that took a lock (threading.Event.set)
    would wait for ever on itself when a second signal came while it ran, and the
    supervisor and the command repeat SIGTERM until it is heard. `wait` ends at once
    on a signal (the interpreter writes to the wakeup pipe before the handler runs)."""

    def __init__(self):
        self.requested = False
        self._woken, wake = os.pipe()
        os.set_blocking(self._woken, False)
        os.set_blocking(wake, False)
        signal.set_wakeup_fd(wake)  # in place of an inherited one
        for signum in STOP:
            signal.signal(signum, self._heard)
        # Held since the fork (`signals_held`): one sent meanwhile is heard now.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP)

    def _heard(self, signum, frame) -> None:
        self.requested = True

    def wait(self, timeout: float, also=()) -> None:
        """Until a signal, one of `also` (connections, sentinels) ready, or `timeout`."""
        wait([self._woken, *also], timeout)
        with contextlib.suppress(BlockingIOError):
            while os.read(self._woken, 512):
                pass


# --- the supervisor -----------------------------------------------------------------


@dataclass
class Child:
    index: int
    process: multiprocessing.process.BaseProcess | None = None
    started: float = 0.0
    early_deaths: int = 0
    restart_at: float | None = None

    @property
    def number(self) -> int:
        return self.index + 1


def supervise(plan: Plan, *, parent: int) -> None:
    """The supervisor's body, on its main thread, with no other: start the listener
    processes, start another in place of one that dies, stop them all on SIGTERM or
    when the command's process is gone."""
    stopping = StopSignals()
    children = [Child(index) for index in range(plan.count)]
    for child in children:
        start_child(plan, child)
    while not stopping.requested:
        stopping.wait(CHECK_EVERY, [c.process.sentinel for c in children if c.process])
        if os.getppid() != parent:
            logger.warning("DICOM listener supervisor: the command's process is gone")
            break
        now = time.monotonic()
        for child in children:
            if stopping.requested:
                break
            if child.process is not None and child.process.exitcode is not None:
                bury(plan, child, now)
            if child.restart_at is not None and child.restart_at <= now:
                start_child(plan, child)
    stop_children(children)


def start_child(plan: Plan, child: Child) -> None:
    process = FORK.Process(
        target=run_child,
        args=(child.index, plan),
        kwargs={"parent": os.getpid()},
        name=f"dicom-listener-{child.number}",
        daemon=True,  # terminated by multiprocessing should the supervisor exit unstopped
    )
    with signals_held():
        process.start()
    child.process, child.started, child.restart_at = process, time.monotonic(), None


def bury(plan: Plan, child: Child, now: float) -> None:
    process = child.process
    process.join()
    plan.cap.forget(child.index)
    if now - child.started >= STABLE_SECONDS:
        child.early_deaths = 0
        delay = 0.0
    else:
        delay = min(MAX_BACKOFF, FIRST_BACKOFF * 2**child.early_deaths)
        child.early_deaths += 1
    logger.warning(
        "DICOM listener process %d (pid %d) %s; restarting it in %g s",
        child.number,
        process.pid,
        exit_description(process.exitcode),
        delay,
    )
    child.process, child.restart_at = None, now + delay


def stop_children(children: list[Child]) -> None:
    running = [c for c in children if c.process is not None]
    deadline = time.monotonic() + STOP_SECONDS
    while running and time.monotonic() < deadline:
        for child in running:
            # Again each turn: one started just now may not have its handler yet.
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.process.pid, signal.SIGTERM)
        wait([c.process.sentinel for c in running], timeout=CHECK_EVERY)
        running = [c for c in running if c.process.exitcode is None]
    for child in running:
        logger.warning(
            "DICOM listener process %d (pid %d) still running %g s after SIGTERM: killed",
            child.number,
            child.process.pid,
            STOP_SECONDS,
        )
        child.process.kill()
    for child in children:
        if child.process is not None:
            child.process.join()
            if child.process.exitcode != 0:
                logger.warning(
                    "DICOM listener process %d (pid %d) %s while stopping",
                    child.number,
                    child.process.pid,
                    exit_description(child.process.exitcode),
                )


# --- a listener process -------------------------------------------------------------


def run_child(index: int, plan: Plan, *, parent: int) -> None:
    """The body of a listener process: serve until SIGTERM/SIGINT or until the
    supervisor is gone, then stop as a single listener does (associations aborted)."""
    stopping = StopSignals()
    inprocess.forward_to(plan.tasks)
    plan.cap.index = index
    server = plan.serve(index, plan.sockets, plan.cap)
    pid = os.getpid()
    logger.info("DICOM listener process %d started (pid %d)", index + 1, pid)
    while not stopping.requested:
        stopping.wait(CHECK_EVERY)
        if stopping.requested:
            break
        if os.getppid() != parent:
            logger.warning("DICOM listener process %d (pid %d): parent gone", index + 1, pid)
            break
    plan.shutdown(server)
    logger.info("DICOM listener process %d stopped (pid %d)", index + 1, pid)
