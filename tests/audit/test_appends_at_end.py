"""Events recorded inside chain.appends_at_end() (the HL7 listener's transaction per
message) are written as the block ends, in the order recorded, in the same
transaction; an error in the block drops them with everything else it undoes."""

import pytest
from django.db import transaction

from audit import chain, context, services
from audit.codes import Action, Verb
from audit.models import Event
from worklist.models import Patient

from .conftest import events_after, patients_of

pytestmark = pytest.mark.django_db(transaction=True)


def test_events_are_written_when_the_block_ends_in_their_order(mark):
    with context.system("hl7"), transaction.atomic():
        with chain.appends_at_end():
            first = services.record(Action.PATIENT_RECORD, verb=Verb.CREATE, patients=[("P1", "")])
            second = services.record(Action.ORDER_RECORD, verb=Verb.CREATE, patients=[("P2", "")])
            assert events_after(mark) == []
        assert [e.seq for e in events_after(mark)] == [first.seq, second.seq]

    stored = events_after(mark)
    assert [patients_of(e) for e in stored] == [[("P1", "")], [("P2", "")]]
    assert [e.hash for e in stored] == [first.hash, second.hash]
    assert stored[1].prev_hash == stored[0].hash
    assert chain.verify().intact


def test_an_error_in_the_block_writes_neither_the_change_nor_its_event(mark):
    with (
        pytest.raises(RuntimeError),
        context.system("hl7"),
        transaction.atomic(),
        chain.appends_at_end(),
    ):
        Patient.objects.create(patient_id="P9", patient_name="DOE^JANE")
        services.record(Action.PATIENT_RECORD, verb=Verb.CREATE, patients=[("P9", "")])
        raise RuntimeError("refused")

    assert events_after(mark) == []
    assert not Patient.objects.filter(patient_id="P9").exists()


def test_outside_a_transaction_an_event_is_written_at_once(mark):
    with context.system("hl7"), chain.appends_at_end():
        event = services.record(Action.PATIENT_RECORD, patients=[("P3", "")])
        assert Event.objects.filter(seq=event.seq).exists()
