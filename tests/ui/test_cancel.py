"""Cancelling an exam with a reason, from the calendar's step or the order page."""

import pytest
from django.urls import reverse

from tests.factories import book, future_day, local, step_of
from worklist.models import Order, OrderEvent, OrderStatus, StepStatus
from worklist.services.booking import StepBooking, order_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(rooms, catalogue, patient):
    return book(patient=patient, start=local(future_day(), 9), procedure=catalogue["CTHEAD"])


def test_cancelling_the_only_step_cancels_the_order_with_its_reason(
    scheduler_client, scheduler, order
):
    step = step_of(order)
    response = scheduler_client.post(
        reverse("ui:step_cancel", args=[step.pk]), {"reason": "Patient declined"}
    )
    assert response.status_code == 302
    order.refresh_from_db()
    step.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert order.cancel_reason == "Patient declined"
    assert step.scheduled_procedure_step_status == StepStatus.DISCONTINUED
    event = OrderEvent.objects.get(kind="cancelled")
    assert (event.user, event.detail) == (scheduler, "Patient declined")


def test_a_reason_is_required_and_shown_next_to_its_field(scheduler_client, order):
    response = scheduler_client.post(reverse("ui:step_cancel", args=[step_of(order).pk]), {})
    assert response.status_code == 400
    assert 'id="id_reason_error"' in response.content.decode()
    order.refresh_from_db()
    assert order.status == OrderStatus.SCHEDULED


def test_cancelling_one_step_of_several_discontinues_that_step_only(
    scheduler_client, rooms, patient
):
    day = future_day()
    order = order_create(
        patient={"patient_id": "P1001", "issuer_of_patient_id": "HOSP"},
        steps=[
            StepBooking(scheduled_station_ae_title="CT1", start=local(day, 9)),
            StepBooking(scheduled_station_ae_title="MR1", start=local(day, 10)),
        ],
    )
    first, second = order.requested_procedure.scheduled_procedure_steps.all()
    page = scheduler_client.get(reverse("ui:step_cancel", args=[first.pk])).content.decode()
    assert "discontinues step" in page
    scheduler_client.post(reverse("ui:step_cancel", args=[first.pk]), {"reason": "Not needed"})
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.scheduled_procedure_step_status == StepStatus.DISCONTINUED
    assert second.scheduled_procedure_step_status == StepStatus.SCHEDULED
    assert Order.objects.get().status == OrderStatus.SCHEDULED
    assert "Not needed" in OrderEvent.objects.get(kind="discontinued").detail


def test_order_page_cancels_the_order(scheduler_client, order):
    response = scheduler_client.post(
        reverse("ui:order_cancel", args=[order.pk]), {"reason": "Duplicate"}
    )
    assert response["Location"] == reverse("ui:order", args=[order.pk])
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED


def test_order_page_keeps_the_typed_reason_when_refused(scheduler_client, order):
    response = scheduler_client.post(
        reverse("ui:order_cancel", args=[order.pk]), {"reason": "x" * 65}
    )
    assert response.status_code == 400
    assert "x" * 65 in response.content.decode()


def test_a_technologist_cannot_cancel(technologist_client, order):
    response = technologist_client.post(
        reverse("ui:order_cancel", args=[order.pk]), {"reason": "x"}
    )
    assert response.status_code == 403


def test_order_page_refusing_a_started_order_says_why_with_409(scheduler_client, order):
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.IN_PROGRESS)
    response = scheduler_client.post(
        reverse("ui:order_cancel", args=[order.pk]), {"reason": "Too late"}
    )
    assert response.status_code == 409
    assert "cannot be cancelled" in response.content.decode()
