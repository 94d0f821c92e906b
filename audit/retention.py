"""Retention: `audit expire` drops whole calendar months (UTC) older than
AUDIT_RETENTION_MONTHS, oldest first, one month per transaction.

Each month removed is recorded first, as an event of its own (Audit Log Used,
Delete) that says what goes, then a ChainAnchor keeps the seq and hash of the last
removed event so the first kept event still verifies; only then, under a delete
permit of that same transaction, are the rows deleted.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connection, transaction
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


def expire(*, months: int | None = None, now: datetime | None = None) -> ExpiryReport:
    months = conf.get("AUDIT_RETENTION_MONTHS") if months is None else months
    if not months:
        return ExpiryReport(cutoff=None)
    report = ExpiryReport(cutoff=cutoff_for(now or timezone.now(), months))
    while True:
        expired = _expire_oldest_month(report.cutoff)
        if expired is None:
            return report
        report.months.append(expired)


def _expire_oldest_month(cutoff: datetime) -> ExpiredMonth | None:
    with transaction.atomic():
        oldest = Event.objects.order_by("seq").values("seq", "event_date_time").first()
        if oldest is None or oldest["event_date_time"] >= cutoff:
            return None
        month_end = min(add_months(month_start(oldest["event_date_time"]), 1), cutoff)
        last = (
            Event.objects.filter(event_date_time__lt=month_end)
            .order_by("-seq")
            .values("seq", "hash")
            .first()
        )
        expired = ExpiredMonth(
            month=f"{month_start(oldest['event_date_time']):%Y-%m}",
            first_seq=oldest["seq"],
            last_seq=last["seq"],
            events=last["seq"] - oldest["seq"] + 1,
            patient_rows=EventPatient.objects.filter(event_id__lte=last["seq"]).count(),
        )
        _record_and_delete(expired, last["hash"], month_end)
        return expired


def _record_and_delete(expired: ExpiredMonth, last_hash: str, month_end: datetime) -> None:
    marker = services.record(
        Action.AUDIT_LOG_USED,
        verb=Verb.DELETE,
        detail=(
            f"audit expire: month {expired.month}, events #{expired.first_seq}..#"
            f"{expired.last_seq} ({expired.events} events, {expired.patient_rows} patient "
            f"rows) removed; chain anchored at {last_hash}"
        ),
    )
    ChainAnchor.objects.create(
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
