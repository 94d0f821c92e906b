"""Local time in the UI, aware datetimes stored, and bookings across daylight saving.

Europe/Berlin changes to summer time on the last Sunday of March (02:00 -> 03:00)
and back on the last Sunday of October (03:00 -> 02:00)."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from tests.factories import book, next_last_sunday, step_of
from worklist.models import Order
from worklist.services.stations import station_create

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(autouse=True)
def berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"


@pytest.fixture
def er(db):
    return station_create(scheduled_station_ae_title="ER1", modality="CT")


@pytest.fixture
def head(catalogue):
    return catalogue["CTHEAD"]


def offered(client, patient, procedure, day):
    response = client.get(
        reverse("ui:book"),
        {
            "patient": patient.pk,
            "procedure": procedure.pk,
            "day": day.isoformat(),
            "station": "ER1",
        },
    )
    [room] = response.context["panel"]
    [the_day] = room["days"]
    return the_day["slots"]


def book_at(client, patient, procedure, day, label):
    """Book, as a scheduler would, the slot shown as `label` (HH:MM) on `day`."""
    slots = [s for s in offered(client, patient, procedure, day) if s["text"] == label]
    response = client.post(
        reverse("ui:book"),
        {
            "patient": patient.pk,
            "procedure": procedure.pk,
            "shown_procedure": procedure.pk,
            "duration": 15,
            "day": day.isoformat(),
            "slot": slots[0]["value"],
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return step_of(Order.objects.latest("pk"))


def test_booking_on_the_spring_forward_day_keeps_the_wall_clock_time(
    scheduler_client, er, head, patient
):
    sunday = next_last_sunday(3)
    saturday = sunday - timedelta(days=1)
    before = book_at(scheduler_client, patient, head, saturday, "09:00")
    after = book_at(scheduler_client, patient, head, sunday, "09:00")
    assert before.start == datetime.combine(saturday, time(8), tzinfo=UTC)  # CET, +01:00
    assert after.start == datetime.combine(sunday, time(7), tzinfo=UTC)  # CEST, +02:00
    assert after.start.astimezone(BERLIN).time() == time(9)


def test_the_missing_hour_is_not_offered(scheduler_client, er, head, patient):
    slots = offered(scheduler_client, patient, head, next_last_sunday(3))
    labels = [s["text"] for s in slots]
    assert len(labels) == 23 * 4
    assert "01:45" in labels and "03:00" in labels
    assert not any(label.startswith("02:") for label in labels)


def test_the_repeated_hour_is_offered_twice_and_booked_as_shown(
    scheduler_client, er, head, patient
):
    sunday = next_last_sunday(10)
    slots = offered(scheduler_client, patient, head, sunday)
    assert len(slots) == 25 * 4
    twice = [s for s in slots if s["text"] == "02:30"]
    assert len(twice) == 2
    assert twice[0]["value"].endswith("+02:00") and twice[1]["value"].endswith("+01:00")
    response = scheduler_client.post(
        reverse("ui:book"),
        {
            "patient": patient.pk,
            "procedure": head.pk,
            "shown_procedure": head.pk,
            "duration": 15,
            "day": sunday.isoformat(),
            "slot": twice[1]["value"],
        },
    )
    assert response.status_code == 302
    step = step_of(Order.objects.get())
    assert step.start == datetime.combine(sunday, time(1, 30), tzinfo=UTC)  # the later 02:30


def test_calendar_shows_local_wall_clock_time(scheduler_client, er, patient):
    sunday = next_last_sunday(3)
    book(patient=patient, ae_title="ER1", start=datetime.combine(sunday, time(7), tzinfo=UTC))
    response = scheduler_client.get(
        reverse("ui:calendar"), {"station": "ER1", "day": sunday.isoformat()}
    )
    [block] = response.context["grid"].columns[0].blocks
    assert block.time_text == "09:00"
    assert "Times are local (Europe/Berlin)" in response.content.decode()


def test_reschedule_across_the_change_lands_at_the_chosen_wall_clock_time(
    scheduler_client, er, patient
):
    sunday = next_last_sunday(3)
    saturday = sunday - timedelta(days=1)
    step = step_of(
        book(
            patient=patient,
            ae_title="ER1",
            start=datetime.combine(saturday, time(9), tzinfo=BERLIN),
        )
    )
    response = scheduler_client.get(
        reverse("ui:step_reschedule", args=[step.pk]),
        {"day": sunday.isoformat(), "station": "ER1"},
    )
    [room] = response.context["panel"]
    [slot] = [s for s in room["days"][0]["slots"] if s["text"] == "09:00"]
    scheduler_client.post(reverse("ui:step_reschedule", args=[step.pk]), {"slot": slot["value"]})
    step.refresh_from_db()
    assert step.start.astimezone(BERLIN) == datetime.combine(sunday, time(9), tzinfo=BERLIN)
    assert step.start.utcoffset() is not None
