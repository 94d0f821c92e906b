"""Reads of the worklist, shaped for their callers with the joins they need."""

from datetime import date, datetime, time, timedelta

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from .models import Order, Patient, ScheduledProcedureStep, Station


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    """Start and end of a calendar day in the configured local time zone (23 or 25
    hours long on daylight-saving days)."""
    tz = timezone.get_default_timezone()
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return start, end


def patient_list() -> QuerySet[Patient]:
    return Patient.objects.all()


def station_list() -> QuerySet[Station]:
    return Station.objects.prefetch_related("opening_hours")


def order_list() -> QuerySet[Order]:
    steps = ScheduledProcedureStep.objects.select_related("station")
    return Order.objects.select_related("patient").prefetch_related(
        "requested_procedures",
        Prefetch("requested_procedures__scheduled_procedure_steps", queryset=steps),
    )


def order_get(pk: int) -> Order:
    return order_list().get(pk=pk)


def step_list() -> QuerySet[ScheduledProcedureStep]:
    return ScheduledProcedureStep.objects.select_related(
        "station", "requested_procedure__order__patient"
    )
