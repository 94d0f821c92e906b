"""The unusual-access review: bursts of distinct patients, access outside working
hours, access without an order relationship."""

from datetime import UTC, datetime, timedelta

import pytest

from audit import selectors
from audit.codes import Action

from .conftest import make_user, record_as, rewrite_history

pytestmark = pytest.mark.django_db

WEDNESDAY_10 = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
SATURDAY_03 = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
PERIOD = {"since": datetime(2026, 11, 1, tzinfo=UTC), "until": datetime(2026, 12, 1, tzinfo=UTC)}


@pytest.fixture
def bob(django_user_model):
    return make_user(django_user_model, "bob", group="radiologist")


def test_a_user_opening_many_patients_in_an_hour_stands_out(bob, scheduler, settings):
    settings.AUDIT_UNUSUAL_PATIENTS = 20
    bursts = [record_as(bob, Action.PATIENT_RECORD, patients=[(f"B{i}", "H")]) for i in range(25)]
    calm = [
        record_as(scheduler, Action.PATIENT_RECORD, patients=[(f"C{i}", "H")]) for i in range(5)
    ]
    listed = record_as(
        scheduler, Action.PATIENT_RECORD, patients=[(f"L{i}", "H") for i in range(50)]
    )
    minute = {e.seq: WEDNESDAY_10 + timedelta(minutes=i) for i, e in enumerate(bursts)}
    minute |= {e.seq: WEDNESDAY_10 + timedelta(hours=i) for i, e in enumerate(calm)}
    minute[listed.seq] = WEDNESDAY_10
    rewrite_history(lambda seq: minute.get(seq, WEDNESDAY_10 - timedelta(days=30)))

    found = selectors.many_patients_in_short_window(**PERIOD)

    assert [(b.user, b.patients) for b in found] == [("bob", 25)]


def test_the_window_slides(bob, settings):
    made = [record_as(bob, Action.PATIENT_RECORD, patients=[(f"B{i}", "H")]) for i in range(30)]
    spread = {e.seq: WEDNESDAY_10 + timedelta(minutes=10 * i) for i, e in enumerate(made)}
    rewrite_history(lambda seq: spread.get(seq, WEDNESDAY_10 - timedelta(days=30)))
    # six patients in any 60 minutes: found with 6, not with 7
    assert [
        b.patients
        for b in selectors.many_patients_in_short_window(threshold=6, minutes=60, **PERIOD)
    ] == [7]
    assert selectors.many_patients_in_short_window(threshold=8, minutes=60, **PERIOD) == []


def test_access_outside_working_hours_is_listed(scheduler, settings):
    settings.AUDIT_WORKING_HOURS = "07:00-19:00"
    night = record_as(scheduler, Action.PATIENT_RECORD, patients=[("N1", "H")])
    day = record_as(scheduler, Action.PATIENT_RECORD, patients=[("D1", "H")])
    when = {night.seq: SATURDAY_03, day.seq: WEDNESDAY_10}
    rewrite_history(lambda seq: when.get(seq, WEDNESDAY_10 - timedelta(days=30)))

    found = list(selectors.outside_working_hours(**PERIOD))

    assert [e.seq for e in found] == [night.seq]


def test_access_without_an_order_relationship_is_listed(scheduler):
    from worklist.models import Order, Patient

    physician_of = Patient.objects.create(
        patient_id="PHYS", issuer_of_patient_id="H", patient_name="A^B"
    )
    Order.objects.create(
        patient=physician_of, accession_number="ACC9", referring_physician_name="SMITH^ALICE^^Dr"
    )
    record_as(scheduler, Action.ORDER_RECORD, verb="C", patients=[("BOOKED", "H")])
    for patient in ("BOOKED", "PHYS", "STRANGER"):
        record_as(scheduler, Action.PATIENT_RECORD, patients=[(patient, "H")])
    rewrite_history(lambda seq: WEDNESDAY_10)

    found = selectors.without_order_relationship(**PERIOD)

    assert [(a.user, a.patient_id, a.accesses) for a in found] == [("alice", "STRANGER", 1)]
