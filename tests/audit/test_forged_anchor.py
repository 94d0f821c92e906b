"""An expiry anchor vouches for a gap only together with the expiry event that
recorded it, and that event must be in the chain: a hand-made anchor hides nothing."""

from datetime import UTC, datetime

import pytest

from audit import chain, retention, services, triggers
from audit.codes import Action
from audit.models import ChainAnchor, Event

from .test_retention import NOW, trail_over_months

pytestmark = pytest.mark.django_db


def cut_behind_a_forged_anchor(through: int, *, recorded_by: int, removed=None) -> None:
    """What the application's own database role could do: take a delete permit, drop
    the oldest events and leave an anchor saying they expired."""
    last = Event.objects.get(seq=through)
    ChainAnchor.objects.create(
        created_at=datetime.now(UTC),
        expired_before=datetime.now(UTC),
        expired_through_seq=through,
        expired_through_hash=last.hash,
        events_removed=through if removed is None else removed,
        patient_rows_removed=0,
        recorded_by_seq=recorded_by,
    )
    with triggers.delete_permit("forgery"), triggers.connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_eventpatient WHERE event_id <= %s", [through])
        cursor.execute("DELETE FROM audit_event WHERE seq <= %s", [through])


@pytest.fixture
def hundred_events():
    made = [services.record(Action.PATIENT_RECORD, patients=[(f"P{i}", "H")]) for i in range(100)]
    return made[-1].seq


def test_an_anchor_whose_expiry_event_does_not_exist_is_found(hundred_events):
    cut_behind_a_forged_anchor(hundred_events - 10, recorded_by=hundred_events + 1000)

    result = chain.verify()

    assert not result.intact
    assert f"#{hundred_events + 1000}" in result.problem
    assert "not in the chain" in result.problem


def test_an_anchor_naming_an_event_that_records_no_expiry_is_found(hundred_events):
    cut_behind_a_forged_anchor(hundred_events - 10, recorded_by=hundred_events)

    result = chain.verify()

    assert not result.intact
    assert f"event #{hundred_events}" in result.summary()
    assert "does not record this expiry" in result.problem


def test_an_anchor_naming_a_real_expiry_of_other_events_is_found():
    """A true expiry of March, then a forged anchor that claims April went the same
    way and names March's expiry event."""
    made = trail_over_months()
    retention.expire(months=6, now=datetime(2026, 9, 1, tzinfo=UTC))  # up to 2026-03
    march = ChainAnchor.objects.get()
    april_end = made[2].seq
    cut_behind_a_forged_anchor(
        april_end,
        recorded_by=march.recorded_by_seq,
        removed=april_end - march.expired_through_seq,
    )

    result = chain.verify()

    assert not result.intact
    assert "does not record this expiry" in result.problem


def test_anchors_must_cover_every_expired_event():
    """True expiries of March and April; a forged anchor that claims April's first
    event went on its own overlaps April's: the anchors no longer meet end to end."""
    made = trail_over_months()
    retention.expire(months=6, now=NOW)
    ChainAnchor.objects.create(
        created_at=NOW,
        expired_before=NOW,
        expired_through_seq=made[1].seq,
        expired_through_hash="0" * 64,
        events_removed=1,
        patient_rows_removed=0,
        recorded_by_seq=made[-1].seq,
    )

    result = chain.verify()

    assert not result.intact
    assert "anchors" in result.problem


def test_true_expiries_still_verify():
    made = trail_over_months()
    retention.expire(months=6, now=datetime(2026, 9, 1, tzinfo=UTC))
    retention.expire(months=6, now=NOW)
    assert ChainAnchor.objects.count() >= 2
    result = chain.verify()
    assert result.intact, result.summary()
    assert result.first_seq == made[3].seq
