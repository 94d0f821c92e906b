"""First available: the earliest free slots for a procedure across the rooms that can
do it, from a day on and within hours, with the reason when the first day has none."""

from datetime import time, timedelta

import pytest

from tests import factories
from tests.factories import local, next_weekday
from worklist.services.availability import first_available

pytestmark = pytest.mark.django_db

SUNDAY, MONDAY = 6, 0


@pytest.fixture
def weekday_rooms(db):
    """Two CT rooms open 08-12 Monday to Saturday, closed on Sunday; one MR room."""
    hours = [{"weekday": d, "opens": time(8), "closes": time(12)} for d in range(6)]
    return [
        factories.station("CT1", "CT", opening_hours=hours),
        factories.station("CT2", "CT", opening_hours=hours),
        factories.station("MR1", "MR", opening_hours=hours),
    ]


@pytest.fixture
def ct_head(db):
    return factories.procedure("CTHEAD", "CT head", "CT", 30)


def test_earliest_slots_across_rooms(weekday_rooms, ct_head):
    monday = next_weekday(MONDAY)
    found = first_available(procedure=ct_head, after=monday, count=3)
    assert [(s.station.scheduled_station_ae_title, s.start) for s in found.slots] == [
        ("CT1", local(monday, 8)),
        ("CT2", local(monday, 8)),
        ("CT1", local(monday, 8, 15)),
    ]
    assert found.reason == ""


def test_booked_slots_are_skipped_and_window_respected(weekday_rooms, ct_head):
    monday = next_weekday(MONDAY)
    factories.book(ae_title="CT1", start=local(monday, 10), minutes=60)
    found = first_available(procedure=ct_head, after=monday, window=(time(10), time(11)), count=3)
    assert [(s.station.scheduled_station_ae_title, s.start) for s in found.slots] == [
        ("CT2", local(monday, 10)),
        ("CT2", local(monday, 10, 15)),
        ("CT2", local(monday, 10, 30)),
    ]


def test_closed_on_sunday(weekday_rooms, ct_head):
    sunday = next_weekday(SUNDAY)
    found = first_available(procedure=ct_head, after=sunday, count=1)
    assert found.reason == "closed on Sunday"
    assert found.slots[0].start == local(sunday + timedelta(days=1), 8)


def test_full_until(weekday_rooms, ct_head):
    monday = next_weekday(MONDAY)
    for ae in ("CT1", "CT2"):
        factories.book(ae_title=ae, start=local(monday, 8), minutes=240)
    found = first_available(procedure=ct_head, after=monday, count=1)
    assert found.reason == f"full until {monday:%-d %b}"
    assert found.slots[0].start == local(monday + timedelta(days=1), 8)


def test_no_room_or_never_open_in_the_window(weekday_rooms, ct_head):
    us = factories.procedure("USABD", "US abdomen", "US", 20)
    assert first_available(procedure=us).reason == "no active room does US"
    evening = first_available(procedure=ct_head, window=(time(18), time(20)), horizon_days=7)
    assert evening.slots == []
    assert evening.reason == "closed every day between 18:00 and 20:00"


def test_api_first_available(api, weekday_rooms, ct_head):
    sunday = next_weekday(SUNDAY)
    response = api.get(
        f"/api/procedures/{ct_head.pk}/first-available/",
        {"after": sunday.isoformat(), "from_time": "09:00", "to_time": "12:00", "count": 2},
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["reason"] == "closed on Sunday between 09:00 and 12:00"
    assert [s["scheduled_station_ae_title"] for s in body["slots"]] == ["CT1", "CT2"]
    assert body["slots"][0]["scheduled_procedure_step_start_datetime"].startswith(
        f"{sunday + timedelta(days=1)}T09:00"
    )
    bad = api.get(f"/api/procedures/{ct_head.pk}/first-available/", {"from_time": "09:00"})
    assert bad.status_code == 400
    assert "from_time" in bad.json()


def test_booking_page_first_free_slots(scheduler_client, weekday_rooms, ct_head):
    from django.urls import reverse

    patient = factories.patient("P5")
    sunday = next_weekday(SUNDAY)
    response = scheduler_client.get(
        reverse("ui:book"),
        {
            "patient": patient.pk,
            "procedure": ct_head.pk,
            "day": sunday.isoformat(),
            "from_time": "10:00",
            "to_time": "11:00",
            "first": "1",
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    first = response.context["first"]
    assert first.reason == "closed on Sunday between 10:00 and 11:00"
    assert first.slots[0].start == local(sunday + timedelta(days=1), 10)
    page = response.content.decode()
    assert "First free slots" in page and "closed on Sunday" in page
    # the day shown moved to the first free slot's; the address keeps the state
    assert response.context["form"].cleaned_data["day"] == sunday + timedelta(days=1)
    assert "first=" not in response["HX-Push-Url"]
    assert f"day={sunday + timedelta(days=1)}" in response["HX-Push-Url"]
