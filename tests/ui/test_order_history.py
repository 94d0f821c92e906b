"""The booking services write the order's history: booked, rescheduled, started,
completed, discontinued, cancelled; with the user when one acted."""

import pytest

from tests.factories import book, future_day, local, step_of
from worklist.models import OrderEvent, ScheduledProcedureStep, StepStatus
from worklist.services.booking import order_cancel, order_refresh_status, step_update

pytestmark = pytest.mark.django_db


def kinds(order):
    return list(OrderEvent.objects.filter(order=order).values_list("kind", flat=True))


def test_booking_is_recorded_with_slot_and_user(rooms, patient, scheduler):
    order = book(patient=patient, start=local(future_day(), 9), user=scheduler)
    [event] = OrderEvent.objects.filter(order=order)
    assert (event.kind, event.user) == ("booked", scheduler)
    assert step_of(order).scheduled_procedure_step_id in event.detail
    assert "CT1" in event.detail and "09:00" in event.detail


def test_a_booking_from_an_integration_has_no_user(rooms, patient):
    order = book(patient=patient, start=local(future_day(), 9))
    assert OrderEvent.objects.get(order=order).user is None


def test_moves_are_recorded_but_descriptive_edits_are_not(rooms, patient):
    order = book(patient=patient, start=local(future_day(), 9))
    step = step_of(order)
    step_update(step=step, scheduled_procedure_step_description="Changed")
    assert kinds(order) == ["booked"]
    step_update(step=step, scheduled_station_ae_title="CT2")
    assert kinds(order) == ["booked", "rescheduled"]


def test_started_and_completed_follow_the_steps(rooms, patient):
    order = book(patient=patient, start=local(future_day(), 9))
    steps = ScheduledProcedureStep.objects.filter(requested_procedure__order=order)
    steps.update(scheduled_procedure_step_status=StepStatus.IN_PROGRESS)
    order_refresh_status(order)
    steps.update(scheduled_procedure_step_status=StepStatus.COMPLETED)
    order_refresh_status(order)
    order_refresh_status(order)  # no change, no event
    assert kinds(order) == ["booked", "started", "completed"]


def test_discontinuing_the_last_step_records_the_order_cancelled(rooms, patient, scheduler):
    order = book(patient=patient, start=local(future_day(), 9))
    step_update(
        step=step_of(order),
        scheduled_procedure_step_status=StepStatus.DISCONTINUED,
        reason="Claustrophobia",
        user=scheduler,
    )
    events = list(OrderEvent.objects.filter(order=order))
    assert [e.kind for e in events] == ["booked", "cancelled"]
    assert (events[1].detail, events[1].user) == ("Claustrophobia", scheduler)


def test_cancelling_is_recorded_once(rooms, patient):
    order = book(patient=patient, start=local(future_day(), 9))
    order_cancel(order=order, reason="Duplicate")
    order_cancel(order=order, reason="Again")
    assert kinds(order) == ["booked", "cancelled"]
