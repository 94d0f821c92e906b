"""Stations (rooms and their modality) with their opening hours, and the procedure
catalogue."""

from datetime import UTC, datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from worklist.models import (
    Modality,
    OpeningHours,
    Procedure,
    Station,
)

from .validation import full_clean, invalid


def _validate_opening_hours(hours: list[dict]) -> None:
    for index, interval in enumerate(hours):
        opens, closes = interval["opens"], interval["closes"]
        if closes != time(0) and closes <= opens:
            raise invalid(
                ("opening_hours", index, "closes"),
                "Must be after 'opens' (use 00:00 for midnight).",
            )


def _replace_opening_hours(station: Station, hours: list[dict]) -> None:
    _validate_opening_hours(hours)
    station.opening_hours.all().delete()
    OpeningHours.objects.bulk_create(OpeningHours(station=station, **h) for h in hours)


@transaction.atomic
def station_create(*, opening_hours: list[dict] | None = None, **fields) -> Station:
    station = Station(**fields)
    full_clean(station)
    station.save()
    _replace_opening_hours(station, opening_hours or [])
    return station


@transaction.atomic
def station_update(
    *, station: Station, opening_hours: list[dict] | None = None, **fields
) -> Station:
    for name, value in fields.items():
        setattr(station, name, value)
    full_clean(station)
    station.save()
    if opening_hours is not None:
        _replace_opening_hours(station, opening_hours)
    return station


def _interval_bounds(day, interval: OpeningHours, tz) -> tuple[datetime, datetime]:
    opens = datetime.combine(day, interval.opens, tzinfo=tz)
    close_day = day + timedelta(days=1) if interval.closes == time(0) else day
    closes = datetime.combine(close_day, interval.closes, tzinfo=tz)
    return opens.astimezone(UTC), closes.astimezone(UTC)


def station_is_open(station: Station, start: datetime, end: datetime) -> bool:
    """True when [start, end) lies inside one opening interval of the station, read in
    local time. A station without opening hours is always open."""
    hours = list(station.opening_hours.all())
    if not hours:
        return True
    tz = timezone.get_default_timezone()
    local_start = start.astimezone(tz)
    start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
    for interval in hours:
        if interval.weekday != local_start.weekday():
            continue
        opens, closes = _interval_bounds(local_start.date(), interval, tz)
        if opens <= start_utc and end_utc <= closes:
            return True
    return False


@transaction.atomic
def procedure_save(*, procedure: Procedure, **fields) -> Procedure:
    for name, value in fields.items():
        setattr(procedure, name, value)
    full_clean(procedure)
    procedure.save()
    return procedure


@transaction.atomic
def modality_save(
    *, modality: Modality, stations: list[Station] | None = None, **fields
) -> Modality:
    """Create or change a known modality (the API and the admin's form both validate
    with the model: AE title, addresses, character set)."""
    for name, value in fields.items():
        setattr(modality, name, value)
    full_clean(modality)
    modality.save()
    if stations is not None:
        modality.stations.set(stations)
    return modality
