"""The room calendar as the templates draw it: columns (a room on a day), an hour
scale, and one block per step placed by its local wall-clock time.

Everything a block shows is computed here once, in plain Python, and each block's
link is built here too (escaped by format_html): the all-rooms day draws 500 of them,
and one template variable per block instead of a dozen keeps that page well inside
its time budget (bench/README.md, "Calendar rendering").
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from worklist.models import ScheduledProcedureStep, Station, StepStatus
from worklist.names import display as person_name
from worklist.services.safety import patient_alerts

PX_PER_MINUTE = 1.6  # 24 px for a 15-minute step: one line of text
DEFAULT_HOURS = (7, 19)  # shown for a station open around the clock with nothing booked

STATUS_MARK = {
    StepStatus.IN_PROGRESS: "▶",
    StepStatus.COMPLETED: "✓",
    StepStatus.DISCONTINUED: "✕",
}
STATUS_CLASS = {
    StepStatus.SCHEDULED: "scheduled",
    StepStatus.IN_PROGRESS: "in-progress",
    StepStatus.COMPLETED: "completed",
    StepStatus.DISCONTINUED: "discontinued",
}


@dataclass
class Block:
    pk: int
    top: float
    height: float
    status: str
    status_class: str
    mark: str
    time_text: str
    patient_text: str
    procedure_text: str
    label: str
    url: str = ""
    priority: str = ""
    alerts: str = ""

    @property
    def html(self) -> SafeString:
        mark = (
            format_html('<span class="mark">{}</span> ', self.mark) if self.mark else SafeString()
        )
        if self.priority and self.priority != "ROUTINE":
            mark += format_html(
                '<span class="prio prio-{}">{}</span> ', self.priority, self.priority
            )
        if self.alerts:
            mark += format_html('<span class="alert-mark" title="{}">⚠</span> ', self.alerts)
        return format_html(
            '<a role="listitem" class="blk {}" style="top:{}px;height:{}px" href="{}" '
            'title="{}" aria-label="{}">{}<b>{}</b> {} <span class="proc">{}</span></a>',
            self.status_class,
            self.top,
            self.height,
            self.url,
            self.label,
            self.label,
            mark,
            self.time_text,
            self.patient_text,
            self.procedure_text,
        )


@dataclass
class Band:
    """A stretch of a column that is not an exam: closed hours (shaded) or a free gap
    (bookable by click when `url` is set)."""

    top: float
    height: float
    text: str
    url: str = ""


@dataclass
class Column:
    station: Station
    day: date
    blocks: list[Block] = field(default_factory=list)
    closed: list[Band] = field(default_factory=list)
    gaps: list[Band] = field(default_factory=list)
    now_top: float | None = None

    @property
    def key(self) -> tuple[int, date]:
        return (self.station.pk, self.day)


@dataclass
class Grid:
    columns: list[Column]
    first_hour: int
    last_hour: int

    @property
    def height(self) -> float:
        return round((self.last_hour - self.first_hour) * 60 * PX_PER_MINUTE, 1)

    @property
    def hours(self) -> list[tuple[str, float]]:
        return [
            (f"{hour:02d}:00", round((hour - self.first_hour) * 60 * PX_PER_MINUTE, 1))
            for hour in range(self.first_hour, self.last_hour)
        ]

    @property
    def step_count(self) -> int:
        return sum(len(column.blocks) for column in self.columns)


def _wall_minutes(moment: datetime, day: date, tz) -> int:
    """Minutes from the local midnight starting `day` as a wall clock reads them,
    clamped to the day: a step crossing midnight is cut at the edge."""
    local = moment.astimezone(tz)
    if local.date() < day:
        return 0
    if local.date() > day:
        return 24 * 60
    return local.hour * 60 + local.minute


def _opening_window(station: Station, day: date) -> tuple[int, int] | None:
    hours = [h for h in station.opening_hours.all() if h.weekday == day.weekday()]
    if not hours:
        return None
    first = min(h.opens.hour for h in hours)
    last = max(24 if h.closes == time(0) else h.closes.hour + (h.closes.minute > 0) for h in hours)
    return first, last


def build_grid(
    *,
    stations: list[Station],
    days: list[date],
    steps: list[ScheduledProcedureStep],
    step_url: str = "/steps/",
) -> Grid:
    """Columns for each day, then each station, holding the steps that fall on them.
    The hour scale spans the opening hours and every step shown; each block links to
    `step_url` + its step's pk."""
    tz = timezone.get_default_timezone()
    columns = [Column(station=s, day=d) for d in days for s in stations]
    by_key = {column.key: column for column in columns}
    first_hour, last_hour = 24, 0
    for column in columns:
        window = _opening_window(column.station, column.day)
        if window:
            first_hour, last_hour = min(first_hour, window[0]), max(last_hour, window[1])

    placed = []
    for step in steps:
        for day in days:
            column = by_key.get((step.station_id, day))
            if column is None:
                continue
            top = _wall_minutes(step.start, day, tz)
            bottom = _wall_minutes(step.end, day, tz)
            if bottom <= top:
                continue
            first_hour = min(first_hour, top // 60)
            last_hour = max(last_hour, -(-bottom // 60))
            placed.append((column, step, top, bottom))
    if first_hour >= last_hour:
        first_hour, last_hour = DEFAULT_HOURS

    for column, step, top, bottom in placed:
        order = step.requested_procedure.order
        patient = person_name(order.patient.patient_name)
        procedure = (
            step.requested_procedure.requested_procedure_description
            or step.scheduled_procedure_step_description
        )
        status = step.scheduled_procedure_step_status
        start_text = f"{step.start.astimezone(tz):%H:%M}"
        end_text = f"{step.end.astimezone(tz):%H:%M}"
        priority = step.requested_procedure.requested_procedure_priority
        alerts = _alerts_text(order.patient)
        column.blocks.append(
            Block(
                pk=step.pk,
                top=round((top - first_hour * 60) * PX_PER_MINUTE, 1),
                height=round(max(bottom - top, 10) * PX_PER_MINUTE - 2, 1),
                status=status,
                status_class=STATUS_CLASS.get(status, "scheduled"),
                mark=STATUS_MARK.get(status, ""),
                time_text=start_text,
                patient_text=patient,
                procedure_text=procedure,
                label=(
                    f"{start_text}–{end_text} {patient}, {procedure}, {status}, "
                    f"{priority}, accession {order.accession_number}"
                    + (f", alerts: {alerts}" if alerts else "")
                ),
                url=f"{step_url}{step.pk}/",
                priority=priority,
                alerts=alerts,
            )
        )
    grid = Grid(columns=columns, first_hour=first_hour, last_hour=last_hour)
    _add_bands(grid, steps, tz)
    return grid


MIN_GAP_MINUTES = 15


def _px(minutes: float, first_hour: int) -> float:
    return round((minutes - first_hour * 60) * PX_PER_MINUTE, 1)


def _open_minutes(station: Station, day: date) -> list[tuple[int, int]]:
    """The station's opening intervals on `day` as wall-clock minutes from midnight;
    all day when it has no opening hours at all."""
    hours = list(station.opening_hours.all())
    if not hours:
        return [(0, 24 * 60)]
    return sorted(
        (
            h.opens.hour * 60 + h.opens.minute,
            24 * 60 if h.closes == time(0) else h.closes.hour * 60 + h.closes.minute,
        )
        for h in hours
        if h.weekday == day.weekday()
    )


def _alerts_text(patient) -> str:
    """The patient's alerts in one line; most patients have none (checked first)."""
    if not (
        patient.medical_alerts
        or patient.allergies
        or patient.special_needs
        or patient.pregnancy_status
    ):
        return ""
    return "; ".join(f"{a.label}: {a.text}" for a in patient_alerts(patient))


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _add_bands(grid: Grid, steps, tz) -> None:
    """Closed hours, free gaps (open, nothing occupying, not past) and the now-line of
    each column, in the grid's pixel scale."""
    now = timezone.localtime(timezone=tz)
    now_minutes = now.hour * 60 + now.minute
    low, high = grid.first_hour * 60, grid.last_hour * 60
    busy: dict[tuple[int, date], list[tuple[int, int]]] = {}
    by_station: dict[int, list[Column]] = {}
    for column in grid.columns:
        by_station.setdefault(column.station.pk, []).append(column)
    for step in steps:
        if step.scheduled_procedure_step_status not in ("SCHEDULED", "IN PROGRESS"):
            continue
        for column in by_station.get(step.station_id, ()):
            top = _wall_minutes(step.start, column.day, tz)
            bottom = _wall_minutes(step.end, column.day, tz)
            if bottom > top:
                busy.setdefault(column.key, []).append((top, bottom))
    for column in grid.columns:
        opening = _open_minutes(column.station, column.day)
        cursor = low
        for opens, closes in [*opening, (high, high)]:
            if opens > cursor:
                end = min(opens, high)
                if end > cursor:
                    column.closed.append(
                        Band(
                            _px(cursor, grid.first_hour),
                            round((end - cursor) * PX_PER_MINUTE, 1),
                            "Closed",
                        )
                    )
            cursor = max(cursor, closes)
        if column.day == now.date():
            if low <= now_minutes <= high:
                column.now_top = _px(now_minutes, grid.first_hour)
        elif column.day < now.date():
            continue
        floor = now_minutes if column.day == now.date() else 0
        taken = sorted(busy.get(column.key, []))
        for opens, open_until in opening:
            closes = min(open_until, high)
            start = max(opens, low, floor - floor % 15)
            for top, bottom in [*taken, (closes, closes)]:
                if bottom <= start:
                    continue
                end = min(top, closes)
                if end - start >= MIN_GAP_MINUTES:
                    column.gaps.append(
                        Band(
                            _px(start, grid.first_hour),
                            round((end - start) * PX_PER_MINUTE, 1),
                            f"Free {_hhmm(start)}–{_hhmm(end)}",
                        )
                    )
                start = max(start, bottom)
                if start >= closes:
                    break


def gap_start(column: Column, band: Band, first_hour: int) -> datetime:
    """The local start time of a free gap."""
    minutes = round(band.top / PX_PER_MINUTE) + first_hour * 60
    return datetime.combine(
        column.day, time(minutes // 60, minutes % 60), tzinfo=timezone.get_default_timezone()
    )


def week_days(first: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range(7)]


def exam_text(step: ScheduledProcedureStep, patient=None) -> str:
    """An exam as the desk says it: 'CT head for Vivaldi, Antonio at 09:00 on Thu 3 Dec
    in CT1', never a step ID."""
    requested = step.requested_procedure
    procedure = (
        requested.requested_procedure_description
        or step.scheduled_procedure_step_description
        or step.modality
    )
    patient = patient or requested.order.patient
    start = timezone.localtime(step.start)
    return (
        f"{procedure} for {person_name(patient.patient_name)} at {start:%H:%M} on "
        f"{start:%a} {start.day} {start:%b %Y} in {step.station.scheduled_station_ae_title}"
    )
