"""The compliance pages' reads made cheaper for issue 13 keep what they show: the
access report's summary by actor (GDPR Art. 15) counts each event once within the
period asked for; the bursts counted per hour in the database are still found."""

from datetime import UTC, datetime, timedelta

import pytest

from audit import selectors
from audit.codes import Action

from .conftest import make_user, record_as, rewrite_history

pytestmark = pytest.mark.django_db

NOVEMBER_10 = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)


def test_an_event_naming_the_patient_under_two_issuers_counts_once(django_user_model):
    bob = make_user(django_user_model, "bob", group="radiologist")
    record_as(bob, Action.PATIENT_RECORD, patients=[("P1", "HOSP"), ("P1", "OTHER")])
    record_as(bob, Action.ORDER_RECORD, verb="U", patients=[("P1", "HOSP")])

    report = selectors.patient_report(patient_id="P1")

    assert [(a.actor, a.accesses, a.reads, a.changes) for a in report.actors] == [("bob", 2, 1, 1)]


def test_the_summary_counts_only_the_period_asked_for(django_user_model):
    bob = make_user(django_user_model, "bob", group="radiologist")
    eve = make_user(django_user_model, "eve", group="radiologist")
    old = record_as(eve, Action.PATIENT_RECORD, patients=[("P1", "HOSP")])
    recent = [record_as(bob, Action.PATIENT_RECORD, patients=[("P1", "HOSP")]) for _ in range(3)]
    when = {old.seq: NOVEMBER_10 - timedelta(days=30)}
    when |= {e.seq: NOVEMBER_10 + timedelta(hours=i) for i, e in enumerate(recent)}
    rewrite_history(lambda seq: when.get(seq, NOVEMBER_10 - timedelta(days=60)))

    report = selectors.patient_report(
        patient_id="P1", issuer="HOSP", since=NOVEMBER_10 - timedelta(days=1)
    )

    [bob_row] = report.actors
    assert (bob_row.actor, bob_row.accesses) == ("bob", 3)
    assert (bob_row.first, bob_row.last) == (NOVEMBER_10, NOVEMBER_10 + timedelta(hours=2))


def test_a_burst_across_an_hour_boundary_is_found(django_user_model):
    """The database counts openings per hour; a burst split 10 + 10 over two hours is
    still a candidate, and found."""
    bob = make_user(django_user_model, "bob", group="radiologist")
    made = [record_as(bob, Action.PATIENT_RECORD, patients=[(f"B{i}", "H")]) for i in range(20)]
    start = NOVEMBER_10 + timedelta(minutes=40)  # 10:40 .. 11:18
    when = {e.seq: start + timedelta(minutes=2 * i) for i, e in enumerate(made)}
    rewrite_history(lambda seq: when.get(seq, NOVEMBER_10 - timedelta(days=30)))
    period = {"since": NOVEMBER_10, "until": NOVEMBER_10 + timedelta(days=1)}

    found = selectors.many_patients_in_short_window(threshold=20, minutes=60, **period)

    assert [(b.user, b.patients) for b in found] == [("bob", 20)]
    assert selectors.many_patients_in_short_window(threshold=21, minutes=60, **period) == []
