"""MPPS messages racing on PostgreSQL: two N-SETs on one instance are judged one
after the other, and a retried N-CREATE racing its first sending stores one step."""

import threading
import time

import pytest
from django.db import connections

from ris.errors import Conflict
from tests.dicom.mpps_messages import n_create, n_set_completed, series
from tests.factories import book_step, station
from worklist.dicom import mpps_iod
from worklist.models import OrderStatus, PerformedProcedureStep
from worklist.services import performed_steps

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(calls):
    barrier = threading.Barrier(len(calls))
    outcomes = []

    def run(call):
        try:
            barrier.wait()
            call()
            outcomes.append("ok")
        except Conflict:
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return sorted(outcomes)


def slowly(monkeypatch, name):
    """Widen the window between reading the stored step and writing it, so that
    without the row lock both racers would see it IN PROGRESS."""
    real = getattr(mpps_iod, name)

    def slow(*args, **kwargs):
        time.sleep(0.3)
        return real(*args, **kwargs)

    monkeypatch.setattr(mpps_iod, name, slow)


def test_two_completing_n_sets_racing_let_exactly_one_complete(monkeypatch):
    station("CT1")
    step = book_step()
    uid = "1.2.826.0.1.3680043.10.1.1"
    performed_steps.performed_step_create(
        sop_instance_uid=uid, attributes=n_create(step), calling_ae_title="CT1"
    )
    slowly(monkeypatch, "check_final_state")
    updates = [n_set_completed(series(protocol=f"Protocol {i}")) for i in range(2)]
    outcomes = race(
        [
            lambda update=update: performed_steps.performed_step_update(
                sop_instance_uid=uid, modifications=update, calling_ae_title="CT1"
            )
            for update in updates
        ]
    )
    assert outcomes == ["ok", "refused"]
    order = step.requested_procedure.order
    order.refresh_from_db()
    assert order.status == OrderStatus.COMPLETED
    assert order.events.filter(kind="completed").count() == 1


def test_an_n_create_and_its_retry_racing_store_one_step(monkeypatch):
    station("CT1")
    step = book_step()
    attributes = n_create(step)
    uid = "1.2.826.0.1.3680043.10.1.2"
    slowly(monkeypatch, "check_create")
    outcomes = race(
        [
            lambda: performed_steps.performed_step_create(
                sop_instance_uid=uid, attributes=attributes, calling_ae_title="CT1"
            )
            for _ in range(2)
        ]
    )
    assert outcomes == ["ok", "ok"]
    assert PerformedProcedureStep.objects.count() == 1
    assert step.requested_procedure.order.events.filter(kind="performed").count() == 1
