"""An event says who, when (UTC, microseconds), from where, through which channel,
what, with which outcome, and names each patient once, on a row of its own."""

from datetime import UTC

import pytest
from django.db import transaction

from audit import chain, context, services
from audit.codes import Action, Channel, ObjectKind, Outcome, Verb
from audit.models import Event, EventPatient

from .conftest import events_after, patients_of

pytestmark = pytest.mark.django_db


def test_event_records_actor_source_channel_action_outcome_and_patients(mark):
    with context.system("loaddemo"):
        event = services.record(
            Action.ORDER_RECORD,
            verb=Verb.CREATE,
            patients=[("AV35674", "HOSP"), ("X1", "")],
            objects=[(ObjectKind.ACCESSION_NUMBER, "A0001")],
        )

    [stored] = events_after(mark)
    assert stored.seq == event.seq
    assert stored.get_action_display() == "Order Record"
    assert stored.event_action_code == "C"
    assert stored.event_outcome_indicator == Outcome.SUCCESS
    assert stored.channel == Channel.COMMAND
    assert stored.detail == "loaddemo"
    assert stored.role.startswith("os account ")
    assert stored.participant_objects == [["accession_number", "A0001"]]
    assert patients_of(stored) == [("AV35674", "HOSP"), ("X1", "")]


def test_time_is_utc_with_microseconds(mark):
    services.record(Action.PATIENT_RECORD, patients=[("P1", "")])
    [event] = events_after(mark)
    assert event.event_date_time.utcoffset().total_seconds() == 0
    assert (
        event.event_date_time.astimezone(UTC).isoformat(timespec="microseconds").endswith("+00:00")
    )
    assert EventPatient.objects.get(event=event).event_date_time == event.event_date_time


def test_a_patient_named_twice_gets_one_row(mark):
    services.record(Action.PATIENT_RECORD, patients=[("P1", "H"), ("P1", "H"), ("P2", "H")])
    [event] = events_after(mark)
    assert patients_of(event) == [("P1", "H"), ("P2", "H")]


def test_each_event_carries_the_hash_of_the_one_before(mark):
    first = services.record(Action.PATIENT_RECORD, patients=[("P1", "")])
    second = services.record(Action.PATIENT_RECORD, patients=[("P2", "")])
    assert second.seq == first.seq + 1
    assert second.prev_hash == first.hash
    assert first.hash == chain.digest(first, [("P1", "")])


def test_the_first_event_links_to_the_genesis_hash(mark):
    services.record(Action.PATIENT_RECORD)
    first = Event.objects.order_by("seq").first()
    assert (first.seq, first.prev_hash) == (1, chain.GENESIS)


def test_code_without_a_context_is_still_recorded_as_unattributed(mark):
    services.record(Action.PATIENT_RECORD, patients=[("P1", "")])
    [event] = events_after(mark)
    assert event.channel == Channel.UNKNOWN


def test_an_event_written_in_a_transaction_goes_with_it(mark):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.record(Action.PATIENT_RECORD, verb=Verb.UPDATE, patients=[("P1", "")])
        raise RuntimeError("the change failed")
    assert events_after(mark) == []
