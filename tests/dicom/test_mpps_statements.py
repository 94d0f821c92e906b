"""What an MPPS message costs the database (issue 14): the SQL statements of the
N-CREATE that starts a booked exam and of the N-SET that completes it, counted with
Django's CaptureQueriesContext around the real handlers. Each is one transaction
(BEGIN … COMMIT); the steps', the order's status and history lines are one round trip
on PostgreSQL (worklist_follow). A change that adds a statement to every message
makes a modality wait longer for every exam: these bounds fail it, so that it is a
choice, not an accident (bench/README.md, "MPPS receiver", lists each statement)."""

from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pydicom.uid import generate_uid

from tests.factories import book_step, future_day, local, station
from worklist.dicom import mpps, policy
from worklist.models import OrderStatus, StepStatus

from .mpps_messages import n_create, n_set_completed, series

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore:Invalid value for VR"),
]

DAY = future_day(7)

# At most this many statements, BEGIN and COMMIT included, per vendor. PostgreSQL:
# N-CREATE = BEGIN, the candidate steps, the instance's INSERT … ON CONFLICT DO
# NOTHING, the step link, the order lock, its steps, worklist_follow(),
# audit_chain_head(), audit_append(), COMMIT; N-SET = BEGIN, the instance locked, its
# UPDATE, the order lock, its steps, worklist_follow(), the two audit calls, COMMIT.
# SQLite has no worklist_follow: the step and order updates and the history lines are
# statements of their own, and the audit's head, event and patient rows are three.
MOST = {
    "postgresql": {"N-CREATE": 10, "N-SET": 9},
    "sqlite": {"N-CREATE": 13, "N-SET": 12},
}


@pytest.fixture
def ct1(mwl_settings):
    return station("CT1")


def event(ct1, uid, **message):
    requestor = SimpleNamespace(ae_title="CT1", address="192.0.2.7", port=40001)
    access = policy.Access(calling_ae="CT1", stations=(ct1,))
    return SimpleNamespace(
        assoc=SimpleNamespace(requestor=requestor, **{policy.ACCESS: access}), **message
    )


def counted(handler, message_event) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        status, _ = handler(message_event)
    assert getattr(status, "Status", status) == 0x0000
    return [query["sql"] for query in captured.captured_queries]


def test_starting_and_completing_an_exam_stays_within_its_statements(ct1):
    step = book_step(start=local(DAY, 9))
    uid = generate_uid()
    create = counted(
        mpps.handle_create,
        event(
            ct1,
            uid,
            request=SimpleNamespace(AffectedSOPInstanceUID=uid),
            attribute_list=n_create(step),
        ),
    )
    complete = counted(
        mpps.handle_set,
        event(
            ct1,
            uid,
            request=SimpleNamespace(RequestedSOPInstanceUID=uid),
            modification_list=n_set_completed(series(images=5)),
        ),
    )
    # What a user sees: the exam went through both messages.
    step.refresh_from_db()
    order = step.requested_procedure.order
    order.refresh_from_db()
    assert step.scheduled_procedure_step_status == StepStatus.COMPLETED
    assert order.status == OrderStatus.COMPLETED

    most = MOST[connection.vendor]
    assert len(create) <= most["N-CREATE"], "\n".join(create)
    assert len(complete) <= most["N-SET"], "\n".join(complete)
    # Each message is one transaction: nothing half-written between statements.
    for statements in (create, complete):
        assert sum(sql.upper().startswith(("BEGIN", "COMMIT")) for sql in statements) <= 2


def test_a_retried_n_set_writes_nothing(ct1):
    """The same completing N-SET sent again (its response was lost) reads the
    instance and answers Success without a write."""
    step = book_step(start=local(DAY, 10))
    uid = generate_uid()
    counted(
        mpps.handle_create,
        event(
            ct1,
            uid,
            request=SimpleNamespace(AffectedSOPInstanceUID=uid),
            attribute_list=n_create(step),
        ),
    )
    completing = n_set_completed(series(images=5))
    message = {
        "request": SimpleNamespace(RequestedSOPInstanceUID=uid),
        "modification_list": completing,
    }
    counted(mpps.handle_set, event(ct1, uid, **message))
    again = counted(mpps.handle_set, event(ct1, uid, **message))
    writes = [
        sql
        for sql in again
        if sql.lstrip().upper().startswith(("UPDATE", 'INSERT INTO "WORKLIST', "DELETE"))
    ]
    assert writes == [], "\n".join(again)
