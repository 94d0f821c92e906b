"""Stations (rooms and their modality) with their opening hours, and the procedure
catalogue."""

from django.db import transaction

from ris.errors import Invalid
from worklist.models import (
    Modality,
    OpeningHours,
    Procedure,
    Station,
)

from .validation import full_clean


def _replace_opening_hours(station: Station, hours: list[dict]) -> None:
    intervals = [OpeningHours(station=station, **h) for h in hours]
    errors = OpeningHours.errors_of(intervals)
    if errors:
        raise Invalid({"opening_hours": errors.get("__all__", errors)})
    station.opening_hours.all().delete()
    OpeningHours.objects.bulk_create(intervals)


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
