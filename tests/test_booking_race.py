"""Two schedulers booking the same slot at the same moment: one wins, one gets 409."""

import threading
import time

import pytest
from django.db import connections

from ris.errors import Conflict
from tests import factories
from tests.factories import future_day, local
from worklist.models import ScheduledProcedureStep, Station
from worklist.services import booking
from worklist.services.booking import _step_discontinue, order_cancel, step_update

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RACERS = 4
DAY = future_day(7)


def slow_open_check(monkeypatch):
    """Widen the window between reading the calendar and writing the step, so that
    without the station lock every racer would see the slot free."""
    real = Station.is_open

    def slow(*args, **kwargs):
        time.sleep(0.2)
        return real(*args, **kwargs)

    monkeypatch.setattr(Station, "is_open", slow)


def race(book, count):
    barrier = threading.Barrier(count)
    outcomes = []

    def racer(index):
        try:
            barrier.wait()
            book(index)
            outcomes.append("booked")
        except Conflict:
            outcomes.append("conflict")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return sorted(outcomes)


def test_concurrent_bookings_of_one_slot_let_exactly_one_win(station, monkeypatch):
    slow_open_check(monkeypatch)

    def book(index):
        factories.book(
            start=local(DAY, 9),
            patient={"patient_id": f"RACE{index}", "patient_name": "Race^Runner"},
            accession_number=f"RACE{index}",
            requested_procedure_id=f"RP{index}",
            step_id=f"S{index}",
        )

    outcomes = race(book, RACERS)

    assert outcomes == ["booked"] + ["conflict"] * (RACERS - 1)
    assert ScheduledProcedureStep.objects.count() == 1


def test_concurrent_reschedules_onto_one_slot_let_exactly_one_win(station, monkeypatch):
    steps = [
        factories.book_step(
            start=local(DAY, 10 + i),
            patient={"patient_id": f"P{i}", "patient_name": "Move^Me"},
            accession_number=f"MOVE{i}",
        )
        for i in range(2)
    ]
    slow_open_check(monkeypatch)
    target = local(DAY, 8)

    outcomes = race(lambda i: step_update(step=steps[i], start=target), 2)

    assert outcomes == ["booked", "conflict"]
    assert ScheduledProcedureStep.objects.filter(start=target).count() == 1


def test_cancel_racing_a_step_change_does_not_deadlock(station, monkeypatch):
    order = factories.book(
        start=local(DAY, 9),
        patient={"patient_id": "P1", "patient_name": "Race^Cancel"},
        accession_number="CANCEL1",
    )
    step = factories.step_of(order)
    real_discontinue = _step_discontinue

    def slow_discontinue(*args, **kwargs):
        time.sleep(0.5)  # the step is locked now; the cancel arrives meanwhile
        return real_discontinue(*args, **kwargs)

    monkeypatch.setattr(booking, "_step_discontinue", slow_discontinue)

    def act(index):
        if index == 0:
            step_update(step=step, scheduled_procedure_step_status="DISCONTINUED")
        else:
            time.sleep(0.2)
            order_cancel(order=order, reason="Racing")

    outcomes = race(act, 2)

    assert len(outcomes) == 2, "a racer failed with something other than a conflict"
    order.refresh_from_db()
    assert order.status in ("CANCELLED", "DISCONTINUED")
