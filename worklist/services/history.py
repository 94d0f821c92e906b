"""An order's history: one line per thing that happened to it (booked, rescheduled,
started, completed, cancelled...), written by the services that made it happen."""

from django.utils import timezone

from worklist.models import (
    Order,
    OrderEvent,
    ScheduledProcedureStep,
)


def record(order: Order, kind: str, *, user=None, detail: str = "") -> None:
    """One line of the order's history (OrderEvent); `user` is whoever asked, or None
    for the modality, an integration or the system."""
    OrderEvent.objects.create(
        order=order, kind=kind, user=user if getattr(user, "pk", None) else None, detail=detail
    )


def slot_text(step: ScheduledProcedureStep) -> str:
    return (
        f"{step.station.scheduled_station_ae_title} "
        f"{timezone.localtime(step.start):%Y-%m-%d %H:%M}-{timezone.localtime(step.end):%H:%M}"
    )
