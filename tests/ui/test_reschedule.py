"""Rescheduling a step: another slot or another room of its modality."""

import pytest
from django.urls import reverse

from tests.factories import book, future_day, local, step_of
from worklist.models import OrderEvent, ScheduledProcedureStep, StepStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def day():
    return future_day()


@pytest.fixture
def step(rooms, catalogue, patient, day):
    return step_of(book(patient=patient, start=local(day, 9), procedure=catalogue["CTHEAD"]))


def reschedule_url(step):
    return reverse("ui:step_reschedule", args=[step.pk])


def offered(response):
    return [
        s["value"] for room in response.context["panel"] for d in room["days"] for s in d["slots"]
    ]


def test_rooms_of_the_same_modality_are_offered(scheduler_client, step, day):
    response = scheduler_client.get(reschedule_url(step), {"day": day.isoformat()})
    rooms = [room["station"].scheduled_station_ae_title for room in response.context["panel"]]
    assert rooms == ["CT1", "CT2"]
    assert f"CT1|{local(day, 9, 5).isoformat()}" not in offered(response)
    # its own slot does not block a small move
    assert f"CT1|{local(day, 9, 0).isoformat()}" in offered(response)


def test_step_moves_to_another_room_and_time(scheduler_client, scheduler, step, day):
    target = local(day, 14, 30)
    response = scheduler_client.post(
        reschedule_url(step), {"slot": f"CT2|{target.isoformat()}", "reason": "Scanner service"}
    )
    assert response.status_code == 302
    assert "station=CT2" in response["Location"]
    step.refresh_from_db()
    assert step.station.scheduled_station_ae_title == "CT2"
    assert step.start == target and step.duration_minutes == 15
    event = OrderEvent.objects.get(kind="rescheduled")
    assert event.user == scheduler
    assert "CT1" in event.detail and "CT2" in event.detail and "Scanner service" in event.detail


def test_a_slot_taken_meanwhile_is_refused_with_fresh_slots(scheduler_client, step, patient, day):
    book(patient=patient, ae_title="CT2", start=local(day, 11))
    slot = f"CT2|{local(day, 11).isoformat()}"
    response = scheduler_client.post(reschedule_url(step), {"slot": slot, "reason": "typed"})
    assert response.status_code == 409
    page = response.content.decode()
    assert "That slot has just been taken by another booking." in page
    assert slot not in offered(response)
    assert 'value="typed"' in page
    step.refresh_from_db()
    assert step.start == local(day, 9)


def test_no_slot_picked_is_an_error_next_to_the_slots(scheduler_client, step):
    response = scheduler_client.post(reschedule_url(step), {"slot": ""})
    assert response.status_code == 400
    assert "Pick a free slot." in response.content.decode()


def test_a_step_under_way_cannot_be_rescheduled(scheduler_client, step):
    ScheduledProcedureStep.objects.filter(pk=step.pk).update(
        scheduled_procedure_step_status=StepStatus.IN_PROGRESS
    )
    response = scheduler_client.get(reschedule_url(step))
    assert response["Location"] == reverse("ui:step", args=[step.pk])
