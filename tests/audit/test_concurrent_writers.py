"""Writers racing on PostgreSQL: every event gets its own seq, none is lost, and the
chain has no fork."""

import threading

import pytest
from django.db import connections

from audit import chain, services
from audit.codes import Action
from audit.models import Event

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WRITERS = 8
EACH = 25


def test_parallel_writers_leave_an_unbroken_chain():
    before = Event.objects.count()
    barrier = threading.Barrier(WRITERS)
    errors = []

    def writer(index):
        try:
            barrier.wait()
            for n in range(EACH):
                services.record(Action.PATIENT_RECORD, patients=[(f"W{index}-{n}", "RACE")])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    events = list(Event.objects.order_by("seq"))
    assert len(events) == before + WRITERS * EACH
    assert [e.seq for e in events] == list(range(events[0].seq, events[0].seq + len(events)))
    prev_hashes = [e.prev_hash for e in events]
    assert len(set(prev_hashes)) == len(prev_hashes), "two events share a predecessor (fork)"
    result = chain.verify()
    assert result.intact, result.summary()
    assert result.events == len(events)


def test_a_writer_that_lost_the_race_hashes_again_after_the_winner(monkeypatch):
    """Between reading the head and appending, another writer appends: the append
    writes nothing, answers the new head, and the event is hashed again after it."""
    original = chain._chained
    attempts = []

    def rival_gets_in_first(fields, patients, **where):
        attempts.append(where["seq"])
        if len(attempts) == 1:
            services.record(Action.PATIENT_RECORD, patients=[("RIVAL", "RACE")])
        return original(fields, patients, **where)

    monkeypatch.setattr(chain, "_chained", rival_gets_in_first)
    late = services.record(Action.PATIENT_RECORD, patients=[("LATE", "RACE")])

    rival = Event.objects.get(patients__patient_id="RIVAL")
    assert attempts == [rival.seq, rival.seq, late.seq]  # late: tried #n, then #n+1
    assert (late.seq, late.prev_hash) == (rival.seq + 1, rival.hash)
    assert Event.objects.get(seq=late.seq).hash == late.hash
    assert chain.verify().intact
