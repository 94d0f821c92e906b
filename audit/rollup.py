"""The opened records of closed hours, rolled up (OpenedHour): per hour, user and
patient, how many times the record was opened and the last event's seq.

The unusual-access review of a long period counts and groups every record people
opened in it; the trail is append-only, so what an hour holds never changes once the
hour is over, and a periodic task (audit.roll_up_openings) adds each closed hour
once. The review reads whole rolled-up hours here and only the period's ragged ends
(and the hours not rolled up yet) from the trail itself (audit.selectors): the same
findings, from a few rows per user and hour instead of a join of every opened record.
The burst review needs only each user's count per hour: OpenedUserHour holds the same
hours summed over the patients.

An hour is rolled up GRACE after it ended, so an event stamped in it but committed a
little later is still counted.
"""

from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Min

from .models import Event, OpenedHour, OpenedHoursDone, OpenedUserHour

HOUR = timedelta(hours=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
GRACE = timedelta(minutes=5)

# the hours just rolled up, summed over their patients (OpenedUserHour), stored in hour
# order: a period's rows are then on few pages
PER_USER_SQL = """
    INSERT INTO audit_openeduserhour (hour, user_pk, opened)
    SELECT hour, user_pk, SUM(opened) FROM audit_openedhour
    WHERE hour >= %s AND hour < %s GROUP BY hour, user_pk ORDER BY hour, user_pk
"""


def hour_number(moment: datetime) -> int:
    """The hour (since the epoch, UTC) `moment` falls in."""
    return (moment - EPOCH) // HOUR


def hour_start(number: int) -> datetime:
    return EPOCH + number * HOUR


def first_whole_hour(moment: datetime) -> int:
    """The first hour that starts at or after `moment`."""
    number = hour_number(moment)
    return number if hour_start(number) == moment else number + 1


def hour_sql(column: str) -> str:
    """SQL of the hour number of a timestamp column (as hour_number)."""
    if connection.vendor == "postgresql":
        return f"CAST(FLOOR(EXTRACT(EPOCH FROM {column}) / 3600) AS BIGINT)"
    return f"CAST(strftime('%%s', {column}) AS INTEGER) / 3600"


def rolled_up_until() -> int | None:
    """The hour before which OpenedHour holds the trail, or None before the first roll-up."""
    return OpenedHoursDone.objects.values_list("until_hour", flat=True).first()


def roll_up_openings(*, now: datetime | None = None) -> int:
    """Add the closed hours not rolled up yet (the first time: the whole trail) to
    OpenedHour and, summed per user, to OpenedUserHour, and drop the rows of hours
    older than the trail's oldest event (gone with `audit expire`). Returns the number
    of OpenedHour rows added."""
    from .selectors import _opened_rows

    end = hour_number((now or datetime.now(UTC)) - GRACE)
    with transaction.atomic():
        oldest = Event.objects.aggregate(oldest=Min("event_date_time"))["oldest"]
        start = hour_number(oldest) if oldest is not None else end
        done, _ = OpenedHoursDone.objects.select_for_update().get_or_create(
            pk=1, defaults={"until_hour": min(start, end)}
        )
        added = 0
        if done.until_hour < end:
            rows = _opened_rows(hour_start(done.until_hour), hour_start(end))
            inner, params = rows.query.sql_with_params()
            # the inner query is the ORM's, with its parameters
            sql = f"""
                INSERT INTO audit_openedhour
                    (hour, user_pk, patient_id, issuer_of_patient_id, opened, last_seq)
                SELECT {hour_sql('"moment"')}, "user_pk_", "pid", "issuer", COUNT(*), MAX("seq")
                FROM ({inner}) opened GROUP BY 1, 2, 3, 4
            """  # noqa: S608
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                added = cursor.rowcount
                cursor.execute(PER_USER_SQL, [done.until_hour, end])
            done.until_hour = end
            done.save(update_fields=["until_hour"])
        OpenedHour.objects.filter(hour__lt=start).delete()
        OpenedUserHour.objects.filter(hour__lt=start).delete()
    return added
