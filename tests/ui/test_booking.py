"""Booking an exam: pick a procedure, see the free slots of its rooms, pick one, book."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import book, future_day, local, step_of
from worklist.models import Order, OrderEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def day():
    return future_day()


def slots_page(client, patient, procedure, day, **extra):
    query = {"patient": patient.pk, "procedure": procedure.pk, "day": day.isoformat(), **extra}
    response = client.get(reverse("ui:book"), query)
    assert response.status_code == 200
    return response


def offered(response):
    return [
        slot["value"]
        for room in response.context["panel"]
        for d in room["days"]
        for slot in d["slots"]
    ]


def slot_value(ae_title, start):
    return f"{ae_title}|{start.isoformat()}"


def booking(patient, procedure, day, slot, **extra):
    return {
        "patient": patient.pk,
        "procedure": procedure.pk,
        "shown_procedure": procedure.pk,
        "duration": procedure.duration_minutes,
        "day": day.isoformat(),
        "span": "day",
        "slot": slot,
        "requested_procedure_priority": "ROUTINE",
        "referring_physician_name": "Smith^John",
        "reason_for_the_requested_procedure": "Headache",
        **extra,
    }


def test_booking_needs_a_patient_first(scheduler_client):
    response = scheduler_client.get(reverse("ui:book"))
    assert response["Location"] == reverse("ui:patients")


def test_procedure_fills_modality_and_duration(scheduler_client, rooms, catalogue, patient, day):
    response = slots_page(scheduler_client, patient, catalogue["MRKNEE"], day)
    page = response.content.decode()
    assert 'id="modality">MR<' in page
    assert response.context["form"]["duration"].value() == "30"


def test_a_newly_picked_procedure_replaces_the_duration(
    scheduler_client, rooms, catalogue, patient, day
):
    response = slots_page(
        scheduler_client,
        patient,
        catalogue["CTCHEST"],
        day,
        shown_procedure=catalogue["CTHEAD"].pk,
        duration=45,
    )
    assert response.context["form"]["duration"].value() == "20"


def test_a_duration_typed_for_the_shown_procedure_is_kept(
    scheduler_client, rooms, catalogue, patient, day
):
    procedure = catalogue["CTHEAD"]
    response = slots_page(
        scheduler_client, patient, procedure, day, shown_procedure=procedure.pk, duration=45
    )
    assert response.context["form"]["duration"].value() == "45"
    assert offered(response)[-1].endswith("T18:15:00" + offered(response)[-1][-6:])


def test_only_rooms_of_the_procedure_modality_are_offered(
    scheduler_client, rooms, catalogue, patient, day
):
    response = slots_page(scheduler_client, patient, catalogue["CTHEAD"], day)
    rooms_shown = [room["station"].scheduled_station_ae_title for room in response.context["panel"]]
    assert rooms_shown == ["CT1", "CT2"]
    one_room = slots_page(scheduler_client, patient, catalogue["CTHEAD"], day, station="CT2")
    assert [r["station"].scheduled_station_ae_title for r in one_room.context["panel"]] == ["CT2"]


def test_booked_slot_is_not_offered(scheduler_client, rooms, catalogue, patient, day):
    book(patient=patient, start=local(day, 9))
    values = offered(slots_page(scheduler_client, patient, catalogue["CTHEAD"], day))
    assert slot_value("CT1", local(day, 9)) not in values
    assert slot_value("CT2", local(day, 9)) in values


def test_week_view_shows_seven_days_per_room(scheduler_client, rooms, catalogue, patient, day):
    response = slots_page(scheduler_client, patient, catalogue["MRKNEE"], day, span="week")
    [room] = response.context["panel"]
    assert len(room["days"]) == 7


def test_next_moves_the_range_and_keeps_what_was_typed(
    scheduler_client, rooms, catalogue, patient, day
):
    response = slots_page(
        scheduler_client,
        patient,
        catalogue["CTHEAD"],
        day,
        move="next",
        referring_physician_name="Smith^John",
    )
    form = response.context["form"]
    assert form["day"].value() == (day + timedelta(days=1)).isoformat()
    assert 'value="Smith^John"' in response.content.decode()


def test_changing_the_procedure_answers_the_slot_panel_only(
    scheduler_client, rooms, catalogue, patient, day
):
    response = scheduler_client.get(
        reverse("ui:book"),
        {"patient": patient.pk, "procedure": catalogue["CTHEAD"].pk, "day": day.isoformat()},
        HTTP_HX_REQUEST="true",
    )
    page = response.content.decode()
    assert page.lstrip().startswith('<div id="slot-panel"')
    assert 'name="slot"' in page
    # The panel reloads with its own fields only: what was typed in the order details
    # (free text, possibly clinical) stays in the page, out of URLs.
    assert 'hx-include="#slot-panel"' in page
    assert 'name="reason_for_the_requested_procedure"' not in page


def test_booking_a_slot_creates_the_order_through_the_booking_service(
    scheduler_client, scheduler, rooms, catalogue, patient, day
):
    procedure = catalogue["CTHEAD"]
    response = scheduler_client.post(
        reverse("ui:book"), booking(patient, procedure, day, slot_value("CT2", local(day, 10)))
    )
    order = Order.objects.get()
    assert response["Location"] == reverse("ui:order", args=[order.pk])
    step = step_of(order)
    assert step.station.scheduled_station_ae_title == "CT2"
    assert step.start == local(day, 10) and step.duration_minutes == 15
    assert step.modality == "CT"
    assert order.requested_procedure.requested_procedure_code_sequence[0]["code_value"] == "CTHEAD"
    assert order.requested_procedure.requested_procedure_description == "CT head"
    assert order.referring_physician_name == "Smith^John"
    event = OrderEvent.objects.get(order=order)
    assert (event.kind, event.user) == ("booked", scheduler)
    page = scheduler_client.get(response["Location"]).content.decode()
    assert "Booked CT head for Müller, Anna at 10:00" in page
    assert "in CT2, accession" in page


def test_booking_without_a_slot_says_so_next_to_the_slots(
    scheduler_client, rooms, catalogue, patient, day
):
    response = scheduler_client.post(
        reverse("ui:book"), booking(patient, catalogue["CTHEAD"], day, "")
    )
    assert response.status_code == 400
    assert "Pick a free slot." in response.content.decode()
    assert 'value="Smith^John"' in response.content.decode()
    assert not Order.objects.exists()


def test_order_details_are_checked_by_their_dicom_rule(
    scheduler_client, rooms, catalogue, patient, day
):
    response = scheduler_client.post(
        reverse("ui:book"),
        booking(
            patient,
            catalogue["CTHEAD"],
            day,
            slot_value("CT1", local(day, 9)),
            reason_for_the_requested_procedure="x" * 65,
        ),
    )
    assert "reason_for_the_requested_procedure" in response.context["form"].errors
    assert not Order.objects.exists()


def test_the_loser_of_a_race_for_a_slot_is_told_and_sees_fresh_slots(
    scheduler_client, rooms, catalogue, patient, day
):
    slot = slot_value("CT1", local(day, 9))
    assert slot in offered(slots_page(scheduler_client, patient, catalogue["CTHEAD"], day))
    winner = book(patient=patient, start=local(day, 9))  # another scheduler books it first

    response = scheduler_client.post(
        reverse("ui:book"), booking(patient, catalogue["CTHEAD"], day, slot)
    )
    assert response.status_code == 409
    page = response.content.decode()
    assert "That slot has just been taken by another booking." in page
    assert step_of(winner).scheduled_procedure_step_id in page
    assert slot not in offered(response)
    assert 'value="Smith^John"' in page and 'value="Headache"' in page
    assert Order.objects.count() == 1


def test_a_slot_in_the_past_is_refused(scheduler_client, rooms, catalogue, patient):
    past = timezone.localtime() - timedelta(days=1)
    response = scheduler_client.post(
        reverse("ui:book"),
        booking(patient, catalogue["CTHEAD"], past.date(), slot_value("CT1", past)),
    )
    assert response.status_code == 400
    assert "Must not be in the past" in response.content.decode()
    assert not Order.objects.exists()
