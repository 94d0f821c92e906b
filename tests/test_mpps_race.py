"""MPPS messages racing on PostgreSQL: two N-SETs on one instance are judged one
after the other, and a retried N-CREATE racing its first sending stores one step.

The races are ordered by events, not by sleeping: the first message is held inside
its transaction (a hook in the service's code path), the second is started and the
test waits until PostgreSQL reports it waiting for a lock, then lets the first go on.
Without the lock the second would reach the hook too and the wait would time out."""

import threading
import time

import pytest
from django.db import connection, connections

from ris.errors import Conflict
from tests.dicom.mpps_messages import create, n_create, n_set_completed, series, update
from tests.factories import book_step, station
from worklist.models import OrderStatus, PerformedProcedureStep
from worklist.services import performed_steps

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

TIMEOUT = 30


class Race:
    """Two calls of the service in threads: the first held at a hook until the
    second waits on its lock."""

    def __init__(self):
        self.held = threading.Event()
        self.go = threading.Event()
        self.pids: dict[str, int] = {}
        self.outcomes: dict[str, str] = {}

    def note_backend(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.pids[threading.current_thread().name] = cursor.fetchone()[0]

    def hold(self) -> None:
        """The hook: the first caller stops here, inside its transaction."""
        if threading.current_thread().name == "first":
            self.held.set()
            assert self.go.wait(TIMEOUT)

    def run(self, name: str, call) -> threading.Thread:
        def target():
            try:
                call()
                self.outcomes[name] = "ok"
            except Conflict:
                self.outcomes[name] = "refused"
            except Exception as exc:  # noqa: BLE001 - reported by the assertion
                self.outcomes[name] = repr(exc)
            finally:
                connections.close_all()

        thread = threading.Thread(target=target, name=name)
        thread.start()
        return thread

    def wait_until_second_waits_for_a_lock(self) -> None:
        """PostgreSQL's own word that the second backend waits for a lock."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            pid = self.pids.get("second")
            if pid is not None and self._waits_for_lock(pid):
                return
            self.go.wait(0.01)
        raise AssertionError("the second message never waited for the first one's lock")

    @staticmethod
    def _waits_for_lock(pid: int) -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted", [pid])
            return cursor.fetchone()[0] > 0

    def between(self, first, second) -> dict[str, str]:
        threads = [self.run("first", first)]
        assert self.held.wait(TIMEOUT), "the first message never reached the hook"
        threads.append(self.run("second", second))
        try:
            self.wait_until_second_waits_for_a_lock()
        finally:
            self.go.set()
            for thread in threads:
                thread.join(TIMEOUT)
        return self.outcomes


def hooked(monkeypatch, name, *, before=None, after=None):
    real = getattr(performed_steps, name)

    def wrapper(*args, **kwargs):
        if before:
            before()
        result = real(*args, **kwargs)
        if after:
            after()
        return result

    monkeypatch.setattr(performed_steps, name, wrapper)


def test_two_completing_n_sets_racing_let_exactly_one_complete(monkeypatch):
    station("CT1")
    step = book_step()
    uid = "1.2.826.0.1.3680043.10.1.1"
    create(n_create(step), uid=uid)
    race = Race()
    # Both read the instance under its row lock: the first is held once it has it.
    hooked(monkeypatch, "_locked_instance", before=race.note_backend, after=race.hold)
    updates = [n_set_completed(series(protocol=f"Protocol {i}")) for i in range(2)]
    outcomes = race.between(lambda: update(uid, updates[0]), lambda: update(uid, updates[1]))
    assert outcomes == {"first": "ok", "second": "refused"}
    order = step.requested_procedure.order
    order.refresh_from_db()
    assert order.status == OrderStatus.COMPLETED
    assert order.events.filter(kind="completed").count() == 1
    [performed_series] = PerformedProcedureStep.objects.get().performed_series_sequence
    assert performed_series["protocol_name"] == "Protocol 0"


def test_an_n_create_and_its_retry_racing_store_one_step(monkeypatch):
    station("CT1")
    step = book_step()
    attributes = n_create(step)
    uid = "1.2.826.0.1.3680043.10.1.2"
    race = Race()
    # The first is held after its insert, before its commit; the retry's insert
    # then waits on the unique index.
    hooked(monkeypatch, "_match_scheduled_steps", before=race.note_backend)
    hooked(monkeypatch, "_attach", before=race.hold)
    outcomes = race.between(
        lambda: create(attributes, uid=uid), lambda: create(attributes, uid=uid)
    )
    assert outcomes == {"first": "ok", "second": "ok"}
    assert PerformedProcedureStep.objects.count() == 1
    assert step.requested_procedure.order.events.filter(kind="performed").count() == 1
