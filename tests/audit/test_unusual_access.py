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


def test_the_hourly_roll_up_gives_the_same_findings(bob, scheduler):
    from audit import rollup
    from audit.models import OpenedHour, OpenedUserHour

    bursts = [record_as(bob, Action.PATIENT_RECORD, patients=[(f"B{i}", "H")]) for i in range(25)]
    again = [
        record_as(scheduler, Action.PATIENT_RECORD, patients=[(patient, "H")])
        for patient in ("S1", "S1", "S2", "S1")
    ]
    listed = record_as(
        scheduler, Action.PATIENT_RECORD, patients=[(f"L{i}", "H") for i in range(9)]
    )
    when = {e.seq: WEDNESDAY_10 + timedelta(minutes=30 + 2 * i) for i, e in enumerate(bursts)}
    when |= {
        e.seq: WEDNESDAY_10 + timedelta(minutes=m)
        for e, m in zip(again, (15, 105, 185, 250), strict=True)
    }
    when[listed.seq] = WEDNESDAY_10 + timedelta(minutes=70)
    rewrite_history(lambda seq: when.get(seq, WEDNESDAY_10 - timedelta(days=30)))
    # ragged ends: 10:20 to 14:20, whole hours 11:00-14:00 in between
    period = {
        "since": WEDNESDAY_10 + timedelta(minutes=20),
        "until": WEDNESDAY_10 + timedelta(minutes=260),
    }

    def findings():
        first = selectors.without_order_relationship_page(size=3, **period)
        return (
            selectors.many_patients_in_short_window(threshold=20, minutes=60, **period),
            selectors.many_patients_in_short_window(threshold=26, minutes=90, **period),
            first,
            selectors.without_order_relationship_page(size=3, before=first.older, **period),
            selectors.without_order_relationship_page(size=50, **period),
        )

    from_the_trail = findings()
    assert rollup.roll_up_openings(now=WEDNESDAY_10 + timedelta(days=2)) > 0
    bobs = OpenedHour.objects.filter(user_pk=bob.pk)
    assert len({row.hour for row in bobs}) == 2 and bobs.count() == 25  # 10:00 and 11:00
    per_hour = OpenedUserHour.objects.filter(user_pk=bob.pk).order_by("hour")
    assert [row.opened for row in per_hour] == [15, 10]  # 10:30-10:58, 11:00-11:18
    from_the_roll_up = findings()

    assert from_the_roll_up == from_the_trail
    bursts_found, none_found, first, second, everything = from_the_roll_up
    assert [(b.user, b.patients) for b in bursts_found] == [("bob", 25)]
    assert none_found == []
    assert len(first.accesses) == 3 and first.older is not None
    s1 = next(a for a in everything.accesses if a.patient_id == "S1")
    assert s1.accesses == 2  # 11:45 and 14:10; 10:15 is before the period


def test_an_hour_is_rolled_up_once_and_only_when_closed(bob):
    from audit import rollup
    from audit.models import OpenedHour, OpenedUserHour

    made = [record_as(bob, Action.PATIENT_RECORD, patients=[(f"B{i}", "H")]) for i in range(3)]
    when = {e.seq: WEDNESDAY_10 + timedelta(minutes=50 + 5 * i) for i, e in enumerate(made)}
    rewrite_history(lambda seq: when.get(seq, WEDNESDAY_10 - timedelta(days=30)))

    # 11:02: the 10:00 hour ended two minutes ago, within the grace: not yet
    rollup.roll_up_openings(now=WEDNESDAY_10 + timedelta(minutes=62))
    assert not OpenedHour.objects.filter(user_pk=bob.pk).exists()
    rollup.roll_up_openings(now=WEDNESDAY_10 + timedelta(minutes=66))
    assert OpenedHour.objects.filter(user_pk=bob.pk).count() == 2  # 10:50, 10:55; 11:00 open
    rollup.roll_up_openings(now=WEDNESDAY_10 + timedelta(minutes=66))
    assert OpenedHour.objects.filter(user_pk=bob.pk).count() == 2
    assert list(OpenedUserHour.objects.filter(user_pk=bob.pk).values_list("opened")) == [(2,)]
    period = {"since": WEDNESDAY_10, "until": WEDNESDAY_10 + timedelta(hours=2)}
    assert [a.patient_id for a in selectors.without_order_relationship(**period)] == [
        "B2",
        "B1",
        "B0",
    ]


@pytest.mark.parametrize(("rows_per_pair", "recent_hours"), [(1, 1), (4, 1), (4, 24)])
def test_pages_of_pairs_opened_again_and_again_match_the_records(
    bob, scheduler, monkeypatch, rows_per_pair, recent_hours
):
    """The pages found from the newest rows (read a few at a time, pairs opened again
    after a page's keyset left out, each pair counted over the whole period) are the
    pages of the period's opened records grouped by pair; with and without the roll-up."""
    from audit import rollup

    monkeypatch.setattr(selectors, "NEWEST_ROWS_PER_PAIR", rows_per_pair)
    # the newest rows' floor from the period's last hour (or from none: 24 h is longer)
    monkeypatch.setattr(selectors, "RECENT_HOURS", recent_hours)
    # S1 opened in every hour, S2 and S3 in a few, each of bob's patients once
    opened = [(scheduler, "S1", m) for m in range(15, 300, 20)]
    opened += [(scheduler, "S2", 40), (scheduler, "S2", 200), (scheduler, "S3", 130)]
    opened += [(bob, f"B{i}", 25 + 17 * i) for i in range(12)]
    when = {}
    for user, patient, minute in opened:
        event = record_as(user, Action.PATIENT_RECORD, patients=[(patient, "H")])
        when[event.seq] = WEDNESDAY_10 + timedelta(minutes=minute)
    rewrite_history(lambda seq: when.get(seq, WEDNESDAY_10 - timedelta(days=30)))
    period = {
        "since": WEDNESDAY_10 + timedelta(minutes=20),
        "until": WEDNESDAY_10 + timedelta(minutes=280),
    }

    def pages(**read):
        found, before = [], None
        while True:
            page = selectors.without_order_relationship_page(size=2, before=before, **read)
            found.append([(a.user, a.patient_id, a.accesses, a.last_seq) for a in page.accesses])
            if page.older is None:
                return found
            before = page.older

    records = selectors.opened_records(**period)
    expected = pages(opened=records, **period)
    assert pages(**period) == expected
    rollup.roll_up_openings(now=WEDNESDAY_10 + timedelta(days=2))
    assert pages(**period) == expected
    everything = [access for page in expected for access in page]
    assert len(everything) == len({access[:2] for access in everything}) == 15
    assert ("alice", "S1", 13) in [access[:3] for access in everything]
