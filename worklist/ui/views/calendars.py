"""The room calendars and today's board, which follow the modalities."""

from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone

from worklist import selectors
from worklist.ui.forms import (
    BoardForm,
    CalendarForm,
)
from worklist.ui.grid import build_grid, gap_start, week_days

from .common import _fragment_or_page, _with_defaults, requires


def _calendar_range(request) -> dict:
    """What the calendar shows: the form, the stations, the days and their bounds."""
    all_stations = selectors.stations_for()
    modalities = sorted({s.modality for s in all_stations})
    query = _with_defaults(request.GET, day=timezone.localdate().isoformat(), span="day")
    query.pop(POLL_VERSION, None)
    form = CalendarForm(query, stations=all_stations, modalities=modalities)
    form.is_valid()  # every field is optional; an unreadable one falls back to its default
    data = form.cleaned_data
    ae_title, modality = data.get("station", ""), data.get("modality", "")
    stations = [
        s
        for s in all_stations
        if (not ae_title or s.scheduled_station_ae_title == ae_title)
        and (not modality or s.modality == modality)
    ]
    days = week_days(data["day"]) if data["span"] == "week" else [data["day"]]
    start, _ = selectors.local_day_bounds(days[0])
    _, end = selectors.local_day_bounds(days[-1])
    return {
        "form": form,
        "query": query,
        "stations": stations,
        "days": days,
        "span": data["span"],
        "start": start,
        "end": end,
    }


def _calendar_context(request, shown: dict, version: str) -> dict:
    steps = selectors.calendar_steps(
        stations=shown["stations"], start=shown["start"], end=shown["end"], user=request.user
    )
    grid = build_grid(
        stations=shown["stations"],
        days=shown["days"],
        steps=steps,
        step_url=reverse("ui:step", args=[0])[:-2],
    )
    _gap_links(grid, request.GET.get("patient", ""))
    query = shown["query"].copy()
    links = {"current": "?" + query.urlencode()}
    days = shown["days"]
    shift = timedelta(days=len(days))
    for name, day in (
        ("previous", days[0] - shift),
        ("next", days[0] + shift),
        ("today", timezone.localdate()),
    ):
        query["day"] = day.isoformat()
        links[name] = "?" + query.urlencode()
    return {
        "form": shown["form"],
        "grid": grid,
        "days": days,
        "span": shown["span"],
        "links": links,
        # The grid asks again this often, so a step a modality starts shows without a
        # reload (0: never), naming the version it was drawn from: an unchanged
        # calendar is not sent again, nor are its patients read and audited again.
        "poll_seconds": settings.RIS_UI_POLL_SECONDS,
        "poll": {"name": POLL_VERSION, "version": version},
    }


POLL_VERSION = "drawn"


def _gap_links(grid, patient: str) -> None:
    """Free gaps open the booking page on that slot, for the patient the calendar was
    opened for (from their page)."""
    if not patient.isdigit():
        return
    book = reverse("ui:book")
    for column in grid.columns:
        ae_title = column.station.scheduled_station_ae_title
        for band in column.gaps:
            start = gap_start(column, band, grid.first_hour)
            band.url = f"{book}?" + urlencode(
                {
                    "patient": patient,
                    "station": ae_title,
                    "day": column.day.isoformat(),
                    "slot": f"{ae_title}|{start.isoformat()}",
                }
            )


@requires("worklist.view_scheduledprocedurestep")
def calendar(request):
    """Day or week of one room, or a day of all rooms (of a modality) side by side.

    A poll naming the version it shows gets 204 No Content while nothing on the
    calendar changed, and htmx leaves the page as it is."""
    shown = _calendar_range(request)
    version = selectors.calendar_version(
        stations=shown["stations"], start=shown["start"], end=shown["end"]
    )
    if request.GET.get(POLL_VERSION) == version:
        return HttpResponse(status=204)
    context = _calendar_context(request, shown, version)
    return _fragment_or_page(request, "ui/calendar/_grid.html", "ui/calendar/page.html", context)


@requires("worklist.view_scheduledprocedurestep")
def board(request):
    """Today's steps of one room, in time order, for the technologist at the console."""
    stations = selectors.stations_for()
    form = BoardForm(request.GET or None, stations=stations)
    chosen = form.cleaned_data.get("station") if form.is_valid() else ""
    # The room chosen last is remembered (per session) for the next visit.
    if chosen:
        request.session[BOARD_ROOM] = chosen
    else:
        chosen = request.session.get(BOARD_ROOM, "")
        if chosen:
            form = BoardForm({"station": chosen}, stations=stations)
            form.is_valid()
    station = next(
        (s for s in stations if s.scheduled_station_ae_title == chosen),
        stations[0] if stations else None,
    )
    today = timezone.localdate()
    steps = []
    if station is not None:
        start, end = selectors.local_day_bounds(today)
        steps = selectors.calendar_steps(
            stations=[station], start=start, end=end, user=request.user
        )
    context = {
        "form": form,
        "station": station,
        "today": today,
        "steps": steps,
        "current": current_step(steps, timezone.now()),
    }
    return _fragment_or_page(request, "ui/board/_table.html", "ui/board/page.html", context)


BOARD_ROOM = "board_station"


def current_step(steps, now):
    """The exam the room is on: the one under way, else the one whose slot holds now,
    else the next to come; None when the day is over."""
    for step in steps:
        if step.scheduled_procedure_step_status == "IN PROGRESS":
            return step
    for step in steps:
        if step.scheduled_procedure_step_status == "SCHEDULED" and step.end > now:
            return step
    return None
