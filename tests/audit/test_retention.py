"""`audit expire` drops whole months past the retention period, records what it
removed, and keeps the chain verifiable from an anchor."""

from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from audit import chain, retention, services
from audit.codes import Action, Verb
from audit.models import ChainAnchor, Event, EventPatient

from .conftest import rewrite_history, triggers_bypassed

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


SETUP_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def trail_over_months():
    """Events dated 2026-03, 2026-04 (twice) and 2026-05-01, after whatever the test
    database's setup recorded (dated 2026-01-01), chained as if written then."""
    dates = [
        datetime(2026, 3, 15, tzinfo=UTC),
        datetime(2026, 4, 2, tzinfo=UTC),
        datetime(2026, 4, 30, 23, 59, tzinfo=UTC),
        datetime(2026, 5, 1, tzinfo=UTC),
    ]
    made = [
        services.record(Action.PATIENT_RECORD, patients=[(f"R{i}", "H")]) for i in range(len(dates))
    ]
    moved = {event.seq: moment for event, moment in zip(made, dates, strict=True)}
    rewrite_history(lambda seq: moved.get(seq, SETUP_TIME))
    return made


def test_cutoff_is_the_start_of_a_month():
    assert retention.cutoff_for(NOW, 6) == datetime(2026, 5, 1, tzinfo=UTC)
    assert retention.cutoff_for(datetime(2026, 1, 10, tzinfo=UTC), 1) == datetime(
        2025, 12, 1, tzinfo=UTC
    )


def test_without_a_retention_period_nothing_expires(settings):
    settings.AUDIT_RETENTION_MONTHS = 0
    trail_over_months()
    before = Event.objects.count()
    assert "nothing expires" in retention.expire(now=NOW).summary()
    assert Event.objects.count() == before


def test_whole_months_before_the_cutoff_are_removed_and_recorded():
    made = trail_over_months()

    report = retention.expire(months=6, now=NOW)

    assert [m.month for m in report.months][-2:] == ["2026-03", "2026-04"]
    kept = list(Event.objects.order_by("seq"))
    assert kept[0].seq == made[3].seq  # May 1st stays
    assert not EventPatient.objects.filter(event_id__lt=made[3].seq).exists()
    markers = [e for e in kept if e.get_action_display() == "Audit Log Used"]
    assert [m.event_action_code for m in markers] == [Verb.DELETE] * len(report.months)
    assert "month 2026-04" in markers[-1].detail
    assert "(2 events, 2 patient rows)" in markers[-1].detail


def test_the_chain_still_verifies_from_the_anchor():
    made = trail_over_months()
    retention.expire(months=6, now=NOW)

    anchor = ChainAnchor.objects.order_by("-expired_through_seq").first()
    assert anchor.expired_through_seq == made[2].seq
    assert anchor.expired_through_hash == Event.objects.get(seq=made[3].seq).prev_hash
    result = chain.verify()
    assert result.intact, result.summary()
    assert result.first_seq == made[3].seq


def test_expiring_again_removes_nothing_more():
    trail_over_months()
    retention.expire(months=6, now=NOW)
    count = Event.objects.count()
    assert retention.expire(months=6, now=NOW).months == []
    assert Event.objects.count() == count


def test_a_gap_without_an_anchor_is_reported():
    made = trail_over_months()
    with triggers_bypassed() as cursor:
        cursor.execute("DELETE FROM audit_eventpatient WHERE event_id < %s", [made[1].seq])
        cursor.execute("DELETE FROM audit_event WHERE seq < %s", [made[1].seq])
    result = chain.verify()
    assert not result.intact
    assert "no expiry anchor" in result.problem


def test_the_expire_command_uses_the_setting(settings, capsys):
    settings.AUDIT_RETENTION_MONTHS = 1
    services.record(Action.PATIENT_RECORD)
    call_command("audit", "expire")
    assert "nothing dated before" in capsys.readouterr().out
