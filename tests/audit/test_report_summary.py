"""The access report's summary by actor (GDPR Art. 15), as read from the covering
index of migration 0008: each event counted once, within the period asked for."""

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
