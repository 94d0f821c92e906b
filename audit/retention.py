"""Retention: `audit expire` drops whole calendar months (UTC) older than
AUDIT_RETENTION_MONTHS, oldest first, one month per transaction.

Each month removed is recorded first, as an event of its own (Audit Log Used,
Delete) that says what goes, then a ChainAnchor keeps the seq and hash of the last
removed event so the first kept event still verifies; only then, under a delete
permit of that same transaction, are the rows deleted. `audit verify` checks each
anchor against that event.

On PostgreSQL the anchor and the deletion are audit_expire(), a SECURITY DEFINER
function owned by the tables' owner: the application's role cannot delete audit rows
(audit/triggers.py), and only the expiry role may call it. With
RIS_AUDIT_EXPIRY_DATABASE_URL set, the expiry runs on a connection of its own made
with that role's credentials (docs/operations.md, "Database roles"); the function
itself refuses to remove the last full month or anything newer, events without the
expiry event that records them, or a range whose last hash is not the one stored.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from . import conf, services, triggers
from .codes import Action, Verb
from .models import ChainAnchor, Event, EventPatient


@dataclass
class ExpiredMonth:
    month: str
    first_seq: int
    last_seq: int
    events: int
    patient_rows: int


@dataclass
class ExpiryReport:
    cutoff: datetime | None
    months: list[ExpiredMonth] = field(default_factory=list)

    def summary(self) -> str:
        if self.cutoff is None:
            return "retention is not set (AUDIT_RETENTION_MONTHS=0): nothing expires"
        if not self.months:
            return f"nothing dated before {self.cutoff:%Y-%m-%d} to remove"
        removed = sum(m.events for m in self.months)
        names = ", ".join(m.month for m in self.months)
        return f"removed {removed} events dated before {self.cutoff:%Y-%m-%d} ({names})"


def month_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    return moment.replace(year=index // 12, month=index % 12 + 1)


def cutoff_for(now: datetime, months: int) -> datetime:
    """Events before the start of the month `months` months back expire: with 6 on
    2026-11-24, everything before 2026-05-01."""
    return add_months(month_start(now), -months)


EXPIRY_DATABASE = "audit_expiry"


def database() -> str:
    """The connection the expiry runs on: the expiry role's when configured."""
    return EXPIRY_DATABASE if EXPIRY_DATABASE in connections.settings else DEFAULT_DB_ALIAS


def expire(*, months: int | None = None, now: datetime | None = None) -> ExpiryReport:
    months = conf.get("AUDIT_RETENTION_MONTHS") if months is None else months
    if not months:
        return ExpiryReport(cutoff=None)
    report = ExpiryReport(cutoff=cutoff_for(now or timezone.now(), months))
    using = database()
    while True:
        expired = _expire_oldest_month(report.cutoff, using)
        if expired is None:
            return report
        report.months.append(expired)


def _expire_oldest_month(cutoff: datetime, using: str) -> ExpiredMonth | None:
    events = Event.objects.using(using)
    with transaction.atomic(using=using):
        oldest = events.order_by("seq").values("seq", "event_date_time").first()
        if oldest is None or oldest["event_date_time"] >= cutoff:
            return None
        month_end = min(add_months(month_start(oldest["event_date_time"]), 1), cutoff)
        last = (
            events.filter(event_date_time__lt=month_end)
            .order_by("-seq")
            .values("seq", "hash")
            .first()
        )
        expired = ExpiredMonth(
            month=f"{month_start(oldest['event_date_time']):%Y-%m}",
            first_seq=oldest["seq"],
            last_seq=last["seq"],
            events=last["seq"] - oldest["seq"] + 1,
            patient_rows=EventPatient.objects.using(using)
            .filter(event_id__lte=last["seq"])
            .count(),
        )
        _record_and_delete(expired, last["hash"], month_end, using)
        return expired


def _record_and_delete(
    expired: ExpiredMonth, last_hash: str, month_end: datetime, using: str
) -> None:
    marker = services.record(
        Action.AUDIT_LOG_USED,
        verb=Verb.DELETE,
        detail=(
            f"audit expire: month {expired.month}, events #{expired.first_seq}..#"
            f"{expired.last_seq} ({expired.events} events, {expired.patient_rows} patient "
            f"rows) removed; chain anchored at {last_hash}"
        ),
        using=using,
    )
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT * FROM audit_expire(%s, %s, %s, %s)",
                [expired.last_seq, last_hash, month_end, marker.seq],
            )
        return
    ChainAnchor.objects.using(using).create(
        created_at=marker.event_date_time,
        expired_before=month_end,
        expired_through_seq=expired.last_seq,
        expired_through_hash=last_hash,
        events_removed=expired.events,
        patient_rows_removed=expired.patient_rows,
        recorded_by_seq=marker.seq,
    )
    with triggers.delete_permit("audit expire"), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_eventpatient WHERE event_id <= %s", [expired.last_seq])
        cursor.execute("DELETE FROM audit_event WHERE seq <= %s", [expired.last_seq])


EXPIRE_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_expire(
    p_through bigint, p_through_hash text, p_expired_before timestamptz, p_recorded_by bigint
) RETURNS TABLE (o_events bigint, o_patient_rows bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    v_first bigint;
    v_patient_rows bigint;
    v_recorded timestamptz;
BEGIN
    IF p_expired_before > (date_trunc('month', now() AT TIME ZONE 'UTC')
                           - interval '1 month') AT TIME ZONE 'UTC' THEN
        RAISE EXCEPTION 'audit expire: events of the last full month and later never expire'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT min(e.seq) INTO v_first FROM audit_event AS e;
    IF NOT EXISTS (SELECT 1 FROM audit_event AS e
                   WHERE e.seq = p_through AND e.hash = p_through_hash) THEN
        RAISE EXCEPTION 'audit expire: no event #% with that hash', p_through
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF EXISTS (SELECT 1 FROM audit_event AS e
               WHERE e.seq <= p_through AND e.event_date_time >= p_expired_before) THEN
        RAISE EXCEPTION 'audit expire: events up to #% are not all older than %',
            p_through, p_expired_before USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT e.event_date_time INTO v_recorded FROM audit_event AS e
    WHERE e.seq = p_recorded_by AND e.seq > p_through AND e.action = '110101'
        AND e.event_action_code = 'D';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'audit expire: event #% does not record an expiry', p_recorded_by
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT count(*) INTO v_patient_rows FROM audit_eventpatient AS p
    WHERE p.event_id <= p_through;
    INSERT INTO audit_chainanchor (created_at, expired_before, expired_through_seq,
        expired_through_hash, events_removed, patient_rows_removed, recorded_by_seq)
    VALUES (v_recorded, p_expired_before, p_through, p_through_hash,
        p_through - v_first + 1, v_patient_rows, p_recorded_by);
    INSERT INTO audit_permit (reason) VALUES ('audit expire');
    DELETE FROM audit_eventpatient WHERE event_id <= p_through;
    DELETE FROM audit_event WHERE seq <= p_through;
    DELETE FROM audit_permit;
    RETURN QUERY SELECT p_through - v_first + 1, v_patient_rows;
END
$$
"""
