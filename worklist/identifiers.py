"""Identifiers the RIS issues when an order arrives without them.

Accession numbers follow RIS_ACCESSION_PATTERN (str.format with `seq` and `date`),
requested procedure and step IDs are prefixed counters, Study Instance UIDs are
generated under RIS_UID_ROOT (or pydicom's root when none is configured).
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.utils import timezone
from pydicom.uid import generate_uid

from .models import IdentifierCounter, Order, ScheduledProcedureStep

SH_MAX = 16


COUNTERS = ("accession_number", "requested_procedure_id", "scheduled_procedure_step_id")


def sequence_name(counter: str) -> str:
    return f"worklist_{counter}_seq"


def next_value(name: str) -> int:
    """Next value of a named counter.

    On PostgreSQL a sequence: drawing never waits for another booking's transaction,
    so concurrent bookings do not queue behind each other (a booking that is rolled
    back leaves a gap, which identifiers may have). SQLite serialises its writers
    anyway, so there a counter row, updated in one statement, does the same job.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(%s)", [sequence_name(name)])
            return cursor.fetchone()[0]
    table = IdentifierCounter._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET value = value + 1 WHERE name = %s RETURNING value",  # noqa: S608
            [name],
        )
        row = cursor.fetchone()
    if row is None:
        IdentifierCounter.objects.get_or_create(name=name)
        return next_value(name)
    return row[0]


def _unused(name: str, render, taken) -> str:
    for _ in range(1000):
        candidate = render(next_value(name))
        if len(candidate) > SH_MAX:
            raise ImproperlyConfigured(
                f"Generated {name} {candidate!r} exceeds {SH_MAX} characters"
            )
        if not taken(candidate):
            return candidate
    raise RuntimeError(f"No free {name} found after 1000 attempts")


def new_accession_number() -> str:
    pattern = settings.RIS_ACCESSION_PATTERN
    today = timezone.localdate()
    return _unused(
        "accession_number",
        lambda seq: pattern.format(seq=seq, date=today),
        lambda value: Order.objects.filter(accession_number=value).exists(),
    )


def new_requested_procedure_id() -> str:
    """Unique within its order is what the standard asks; a fresh counter value is."""
    return f"RP{next_value('requested_procedure_id'):08d}"


def new_scheduled_procedure_step_id() -> str:
    return _unused(
        "scheduled_procedure_step_id",
        lambda seq: f"SPS{seq:08d}",
        lambda value: ScheduledProcedureStep.objects.filter(
            scheduled_procedure_step_id=value
        ).exists(),
    )


def new_study_instance_uid() -> str:
    root = settings.RIS_UID_ROOT
    prefix = f"{root.rstrip('.')}." if root else None
    return generate_uid(prefix=prefix) if prefix else generate_uid()
