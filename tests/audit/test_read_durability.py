"""The event of a read in a transaction of its own may skip PostgreSQL's WAL flush
(AUDIT_SYNCHRONOUS_READS off, the default); a change's event never does."""

import pytest
from django.db import connection, transaction

from audit import chain, context, services
from audit.codes import Action, Verb

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def asked(monkeypatch):
    """The `synchronous` each event was appended with."""
    seen = []
    original = chain.append

    def spy(fields, patients, *, synchronous=True, **options):
        seen.append(synchronous)
        return original(fields, patients, synchronous=synchronous, **options)

    monkeypatch.setattr(chain, "append", spy)
    return seen


def test_a_read_of_its_own_skips_the_flush(settings, asked):
    settings.AUDIT_SYNCHRONOUS_READS = False
    with context.system("test"):
        services.record_read(Action.PATIENT_RECORD, patients=[("P1", "")])
    assert asked == [False]


def test_a_site_can_ask_for_durable_reads(settings, asked):
    settings.AUDIT_SYNCHRONOUS_READS = True
    with context.system("test"):
        services.record_read(Action.PATIENT_RECORD, patients=[("P1", "")])
    assert asked == [True]


def test_a_change_keeps_the_servers_durability(settings, asked):
    settings.AUDIT_SYNCHRONOUS_READS = False
    with transaction.atomic():
        services.record(Action.PATIENT_RECORD, verb=Verb.UPDATE, patients=[("P1", "")])
    assert asked == [True]


def test_a_read_inside_a_callers_transaction_keeps_its_durability(settings, asked):
    settings.AUDIT_SYNCHRONOUS_READS = False
    with transaction.atomic():
        services.record_read(Action.PATIENT_RECORD, patients=[("P1", "")])
    assert asked == [True]


@pytest.mark.postgres
def test_postgresql_skips_the_flush_for_that_transaction_only():
    def setting_after(synchronous):
        with transaction.atomic(), connection.cursor() as cursor:
            services.record(Action.QUERY, synchronous=synchronous)
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]

    assert setting_after(False) == "off"
    assert setting_after(True) != "off"
