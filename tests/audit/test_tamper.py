"""Rows edited behind the triggers' back are found by `audit verify`, which names the
first broken link and records its own run."""

import pytest
from django.core.management import call_command
from django.db import connection

from audit import services, triggers
from audit.codes import Action, Outcome

from .conftest import events_after, triggers_bypassed

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail():
    return [services.record(Action.PATIENT_RECORD, patients=[(f"P{i}", "H")]) for i in range(5)]


def verify_output(capsys):
    with pytest.raises(SystemExit) as exit_info:
        call_command("audit", "verify")
    return exit_info.value.code, capsys.readouterr()


def test_an_intact_chain_verifies(trail, capsys, mark):
    call_command("audit", "verify")
    assert "hash chain intact" in capsys.readouterr().out
    [run] = events_after(mark)
    assert run.get_action_display() == "Audit Log Used"
    assert run.event_outcome_indicator == Outcome.SUCCESS
    assert run.channel == "command"


def test_an_edited_event_is_found(trail, capsys):
    victim = trail[2]
    with triggers_bypassed() as cursor:
        cursor.execute("UPDATE audit_event SET username = 'nobody' WHERE seq = %s", [victim.seq])

    status, output = verify_output(capsys)

    assert status == 1
    assert f"BROKEN at event #{victim.seq}" in output.err
    assert "no longer matches its hash" in output.err


def test_a_patient_taken_off_an_event_is_found(trail, capsys):
    victim = trail[1]
    with triggers_bypassed() as cursor:
        cursor.execute(
            "UPDATE audit_eventpatient SET patient_id = 'SOMEONE' WHERE event_id = %s",
            [victim.seq],
        )
    status, output = verify_output(capsys)
    assert status == 1
    assert f"#{victim.seq}" in output.err


def test_a_removed_event_is_found(trail, capsys):
    victim = trail[3]
    with triggers_bypassed() as cursor:
        cursor.execute("DELETE FROM audit_eventpatient WHERE event_id = %s", [victim.seq])
        cursor.execute("DELETE FROM audit_event WHERE seq = %s", [victim.seq])
    status, output = verify_output(capsys)
    assert status == 1
    assert f"events #{victim.seq}..#{victim.seq} are missing" in output.err


def test_a_rehashed_forgery_still_breaks_the_next_link(trail, capsys):
    """Recomputing the edited event's own hash does not help: the next event holds
    the old hash as its prev_hash."""
    from audit import chain
    from audit.models import Event

    victim = Event.objects.get(seq=trail[2].seq)
    victim.username = "nobody"
    forged = chain.digest(victim, [("P2", "H")])
    with triggers_bypassed() as cursor:
        cursor.execute(
            "UPDATE audit_event SET username = 'nobody', hash = %s WHERE seq = %s",
            [forged, victim.seq],
        )
    status, output = verify_output(capsys)
    assert status == 1
    assert f"BROKEN at event #{victim.seq + 1}: its prev_hash" in output.err


def test_a_broken_chain_is_recorded_as_a_serious_failure(trail, capsys, mark):
    with triggers_bypassed() as cursor:
        cursor.execute("UPDATE audit_event SET detail = 'x' WHERE seq = %s", [trail[0].seq])
    verify_output(capsys)
    run = events_after(mark)[-1]
    assert run.get_action_display() == "Audit Log Used"
    assert run.event_outcome_indicator == Outcome.SERIOUS_FAILURE
    assert "BROKEN" in run.detail


def test_missing_triggers_are_reported(trail, capsys):
    with connection.cursor() as cursor:
        for statement in triggers.uninstall_statements(connection.vendor)[:1]:
            cursor.execute(statement)
    status, output = verify_output(capsys)
    assert status == 1
    assert "append-only triggers MISSING" in output.err


def test_events_of_every_shape_verify_after_the_round_trip(scheduler, capsys):
    """What the database gives back (inet, jsonb, timestamps, roles read in SQL)
    hashes to what was written."""
    from types import SimpleNamespace

    from audit import chain, context

    from .conftest import record_as

    record_as(scheduler, Action.PATIENT_RECORD, patients=[("P1", "H"), ("P2", "")])
    peer = SimpleNamespace(
        requestor=SimpleNamespace(ae_title="CT1", address="2001:db8::7", port=104)
    )
    with context.dicom(peer):
        services.record(
            Action.QUERY,
            patients=[("Ünïcødé", "HÔSP")],
            objects=[("accession_number", "A1"), ("study_instance_uid", "1.2.3")],
        )
    result = chain.verify()
    assert result.intact, result.summary()
