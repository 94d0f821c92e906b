"""Delayed and periodic tasks run in-process, for the embedded default (no broker).

`runris` starts one Scheduler thread when CELERY_BROKER_URL is unset. It runs every
entry of CELERY_BEAT_SCHEDULE on its schedule (the audit chain's verify, expiry and
forwarding, the studies' sweeper, the PACS poll: whatever the schedule holds), and
the tasks asked for later in this process (`call_later`, e.g. a study's
reconciliation at the end of its quiet period). Tasks run one at a time in the
scheduler's thread, as a worker with one process would; a failing task is logged and
the scheduler goes on.

Listener processes that `runris` forks (RIS_DICOM_PROCESSES above 1) have no
scheduler of their own: what they ask for later is sent to the parent's
(`forward_to`, worklist/dicom/processes.py).
"""

import heapq
import itertools
import logging
import threading
import time
from dataclasses import dataclass, field

from celery.schedules import maybe_schedule
from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)


@dataclass
class Periodic:
    name: str
    task: str
    schedule: object
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    last_run_at: object = None


class Scheduler:
    def __init__(self, app, beat_schedule: dict):
        self.app = app
        self._later: list = []
        self._sequence = itertools.count()
        self._wake = threading.Condition()
        self._stopping = False
        self.periodic = [
            Periodic(
                name=name,
                task=entry["task"],
                schedule=maybe_schedule(entry["schedule"], app=app),
                args=tuple(entry.get("args", ())),
                kwargs=dict(entry.get("kwargs", {})),
            )
            for name, entry in beat_schedule.items()
        ]
        self._thread = threading.Thread(target=self._run, name="ris-inprocess-tasks", daemon=True)

    def start(self) -> "Scheduler":
        self.app.loader.import_default_modules()  # every task registered, as in a worker
        now = self.app.now()
        for entry in self.periodic:
            entry.last_run_at = now
        self._thread.start()
        return self

    def stop(self, timeout: float = 30) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(timeout)

    def call_later(self, delay: float, task: str, *args) -> None:
        with self._wake:
            heapq.heappush(
                self._later, (time.monotonic() + max(delay, 0), next(self._sequence), task, args)
            )
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                if self._stopping:
                    return
                due, wait = self._due()
                if not due:
                    self._wake.wait(timeout=wait)
                    continue
            for task, args, kwargs in due:
                self._execute(task, args, kwargs)

    def _due(self) -> tuple[list, float]:
        """The tasks due now, and how long to sleep when none is (at most a minute)."""
        due, wait = [], 60.0
        now = time.monotonic()
        while self._later and self._later[0][0] <= now:
            _, _, task, args = heapq.heappop(self._later)
            due.append((task, args, {}))
        if self._later:
            wait = min(wait, self._later[0][0] - now)
        for entry in self.periodic:
            is_due, next_in = entry.schedule.is_due(entry.last_run_at)
            if is_due:
                entry.last_run_at = self.app.now()
                due.append((entry.task, entry.args, entry.kwargs))
            wait = min(wait, max(next_in, 0.05))
        return due, wait

    def _execute(self, task: str, args: tuple, kwargs: dict) -> None:
        close_old_connections()
        try:
            self.app.tasks[task].apply(args=args, kwargs=kwargs, throw=True)
        except Exception:
            logger.exception("In-process task %s failed", task)
        finally:
            close_old_connections()


_scheduler: Scheduler | None = None
_forward = None  # in a forked listener process: sends (delay, task, args) to the parent
_forward_lock = threading.Lock()


def start() -> Scheduler:
    """Start the in-process scheduler of this process (runris, no broker)."""
    global _scheduler
    from ris.celery import app

    _scheduler = Scheduler(app, settings.CELERY_BEAT_SCHEDULE).start()
    return _scheduler


def stop() -> None:
    global _scheduler
    if _scheduler is not None:
        _scheduler.stop()
        _scheduler = None


def forward_to(connection) -> None:
    """In a process forked from the one whose scheduler runs (the parent's thread is
    not here): tasks asked for later go to it through `connection` (a pipe's sending
    end); None: nowhere (the caller falls back as with no scheduler)."""
    global _scheduler, _forward
    _scheduler, _forward = None, connection


def call_later(delay: float, task: str, *args) -> bool:
    """Run `task` in `delay` seconds in this process, if its scheduler runs here, or
    in the parent's when this is a listener process it forked."""
    if _forward is not None:
        try:
            with _forward_lock:
                _forward.send((delay, task, args))
        except (OSError, ValueError):
            logger.warning("Cannot pass task %s to the in-process scheduler", task)
            return False
        return True
    if _scheduler is None:
        return False
    _scheduler.call_later(delay, task, *args)
    return True
