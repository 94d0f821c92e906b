"""The database itself refuses to change or remove audit rows."""

import pytest
from django.db import DatabaseError, connection, transaction

from audit import services, triggers
from audit.codes import Action
from audit.models import Event, EventPatient

pytestmark = pytest.mark.django_db


@pytest.fixture
def event():
    return services.record(Action.PATIENT_RECORD, patients=[("P1", "H")])


def refused(sql, params=()):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)


def test_a_raw_sql_update_of_an_event_fails(event):
    refused("UPDATE audit_event SET username = 'mallory' WHERE seq = %s", [event.seq])
    assert Event.objects.get(seq=event.seq).username == ""


def test_a_raw_sql_update_of_a_patient_row_fails(event):
    refused("UPDATE audit_eventpatient SET patient_id = 'OTHER' WHERE event_id = %s", [event.seq])


def test_a_raw_sql_delete_fails(event):
    refused("DELETE FROM audit_event WHERE seq = %s", [event.seq])
    refused("DELETE FROM audit_eventpatient")
    assert Event.objects.filter(seq=event.seq).exists()


def test_the_orm_cannot_update_or_delete_either(event):
    with pytest.raises(DatabaseError), transaction.atomic():
        Event.objects.filter(seq=event.seq).update(detail="edited")
    with pytest.raises(DatabaseError), transaction.atomic():
        EventPatient.objects.filter(event_id=event.seq)._raw_delete(connection.alias)


def test_truncate_fails_on_postgresql(event):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no TRUNCATE; DELETE without WHERE is refused above")
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE waits for no FK check
    refused("TRUNCATE audit_event, audit_eventpatient")


def test_the_expiry_permit_allows_delete_but_never_update(event):
    with transaction.atomic(), triggers.delete_permit("test"):
        refused("UPDATE audit_event SET username = 'mallory' WHERE seq = %s", [event.seq])
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_eventpatient WHERE event_id = %s", [event.seq])
            cursor.execute("DELETE FROM audit_event WHERE seq = %s", [event.seq])
    assert not Event.objects.filter(seq=event.seq).exists()


def test_every_trigger_is_installed_by_the_migration():
    assert triggers.installed_count() == triggers.expected_count()
