"""First available: the earliest free slots for a procedure across every room that can
do it, optionally from a day on and within a time-of-day window, and, when there is
none on the days asked, why ("closed on Sunday", "full until 14 Dec").

The booking page, its keyboard shortcut and GET /api/procedures/{id}/first-available/
all ask this function. It reads no patient data.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.utils import timezone

from worklist import selectors
from worklist.models import Procedure, Station

from .booking import earliest_start

CHUNK_DAYS = 7
HORIZON_DAYS = 90


@dataclass
class Slot:
    station: Station
    start: datetime
    end: datetime

    @property
    def value(self) -> str:
        """As the booking form's slot radio buttons carry it."""
        return f"{self.station.scheduled_station_ae_title}|{self.start.isoformat()}"


@dataclass
class FirstAvailable:
    procedure: Procedure
    first_day: date
    slots: list[Slot] = field(default_factory=list)
    reason: str = ""


def _in_window(start: datetime, end: datetime, window: tuple[time, time] | None) -> bool:
    if window is None:
        return True
    tz = timezone.get_default_timezone()
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    if local_start.date() != local_end.date() and local_end.time() != time(0):
        return False
    ends = local_end.time() if local_end.time() != time(0) else time(23, 59, 59)
    return window[0] <= local_start.time() and ends <= window[1]


def _open_on(station: Station, day: date, window: tuple[time, time] | None) -> bool:
    """Whether the station opens at all on `day` (within the window)."""
    hours = [h for h in station.opening_hours.all() if h.weekday == day.weekday()]
    if not station.opening_hours.all():
        return True
    for interval in hours:
        closes = interval.closes if interval.closes != time(0) else time(23, 59, 59)
        if window is None or (interval.opens < window[1] and closes > window[0]):
            return True
    return False


def _why_not(days: list[date], stations: list[Station], window) -> str:
    """Why the days searched before the first slot had none: all closed, or full."""
    closed = [d for d in days if not any(_open_on(s, d, window) for s in stations)]
    if len(closed) == len(days):
        weekdays = list(dict.fromkeys(f"{d:%A}" for d in closed))
        hours = f" between {window[0]:%H:%M} and {window[1]:%H:%M}" if window else ""
        if len(weekdays) == 7:
            return "closed every day" + hours
        named = " and ".join(
            [", ".join(weekdays[:-1]), weekdays[-1]] if weekdays[:-1] else weekdays
        )
        return "closed on " + named + hours
    return f"full until {days[-1]:%-d %b}"


def first_available(
    *,
    procedure: Procedure,
    after: date | None = None,
    window: tuple[time, time] | None = None,
    count: int = 5,
    duration_minutes: int | None = None,
    horizon_days: int = HORIZON_DAYS,
    now: datetime | None = None,
) -> FirstAvailable:
    """The `count` earliest free slots (by start, then room) for `procedure` in the active
    rooms of its modality, from `after` (a day; default today) on, not in the past,
    starting and ending within `window` (local times) when given. `reason` says why
    the first day searched has none (or why nothing was found within the horizon)."""
    today = timezone.localdate(now)
    first_day = max(after or today, today)
    stations = selectors.stations_for(modality=procedure.modality)
    result = FirstAvailable(procedure=procedure, first_day=first_day)
    if not stations:
        result.reason = f"no active room does {procedure.modality}"
        return result
    duration = duration_minutes or procedure.duration_minutes
    not_before = earliest_start(now)
    by_pk = {s.pk: s for s in stations}
    day = first_day
    while day < first_day + timedelta(days=horizon_days) and len(result.slots) < count:
        days = min(CHUNK_DAYS, (first_day + timedelta(days=horizon_days) - day).days)
        found = selectors.free_slots(
            stations=stations,
            first_day=day,
            days=days,
            duration_minutes=duration,
            not_before=not_before,
        )
        chunk = [
            Slot(by_pk[pk], start, start + timedelta(minutes=duration))
            for pk, per_day in found.items()
            for starts in per_day.values()
            for start in starts
        ]
        chunk = [s for s in chunk if _in_window(s.start, s.end, window)]
        chunk.sort(key=lambda s: (s.start, s.station.scheduled_station_ae_title))
        result.slots.extend(chunk[: count - len(result.slots)])
        day += timedelta(days=days)
    if not result.slots:
        searched = [first_day + timedelta(days=n) for n in range(horizon_days)]
        why = _why_not(searched, stations, window)
        result.reason = (
            why if why.startswith("closed") else f"no free slot in the next {horizon_days} days"
        )
        return result
    first_slot_day = timezone.localtime(result.slots[0].start).date()
    if first_slot_day > first_day:
        skipped = [first_day + timedelta(days=n) for n in range((first_slot_day - first_day).days)]
        result.reason = _why_not(skipped, stations, window)
    return result
