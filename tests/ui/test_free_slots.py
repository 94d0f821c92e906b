"""The free slots offered: open hours, occupied intervals and the past left out."""

from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from tests.factories import TUESDAY, book, future_day, local, next_weekday, step_of
from worklist import selectors
from worklist.services.booking import order_cancel
from worklist.services.stations import station_create

pytestmark = pytest.mark.django_db


def starts(station, day, minutes=15, **kwargs):
    [station] = selectors.stations_for(ae_title=station.scheduled_station_ae_title)
    found = selectors.free_slots(
        stations=[station], first_day=day, duration_minutes=minutes, **kwargs
    )
    return [f"{start:%H:%M}" for start in found[station.pk][day]]


def test_slots_lie_inside_opening_hours(rooms):
    day = future_day()
    offered = starts(rooms["CT1"], day, minutes=30)
    assert offered[0] == "07:00"
    assert offered[-1] == "18:30"  # ends at closing time
    assert len(offered) == 47


def test_occupied_interval_is_not_offered(rooms, patient):
    day = future_day()
    book(patient=patient, start=local(day, 9), minutes=20)
    offered = starts(rooms["CT1"], day, minutes=30)
    assert "08:45" not in offered  # would overlap 09:00-09:20
    assert "09:00" not in offered and "09:15" not in offered
    assert "08:30" in offered and "09:30" in offered


def test_discontinued_steps_free_their_slot(rooms, patient):
    day = future_day()
    order_cancel(order=book(patient=patient, start=local(day, 9)), reason="x")
    assert "09:00" in starts(rooms["CT1"], day)


def test_the_step_being_moved_does_not_block_itself(rooms, patient):
    day = future_day()
    step = step_of(book(patient=patient, start=local(day, 9), minutes=30))
    assert "09:15" in starts(rooms["CT1"], day, minutes=30, exclude_step=step)


def test_slots_in_the_past_are_not_offered(rooms):
    today = timezone.localdate()
    now = timezone.now()
    offered = starts(rooms["CT1"], today, not_before=now)
    earliest = timezone.localtime(now) - timedelta(minutes=15)
    for text in offered:
        hour, minute = map(int, text.split(":"))
        start = datetime.combine(today, time(hour, minute), tzinfo=earliest.tzinfo)
        assert start >= earliest


def test_a_station_without_opening_hours_is_offered_around_the_clock(db):
    station = station_create(scheduled_station_ae_title="ER1", modality="CT")
    offered = starts(station, future_day(), minutes=60)
    assert offered[0] == "00:00" and offered[-1] == "23:45"  # runs past midnight
    assert len(offered) == 96


def test_week_of_slots_has_every_day(rooms):
    [station] = selectors.stations_for(ae_title="MR1")
    first = future_day()
    found = selectors.free_slots(stations=[station], first_day=first, days=7, duration_minutes=30)
    assert list(found[station.pk]) == [first + timedelta(days=n) for n in range(7)]


def test_closed_day_offers_nothing(db):
    station = station_create(
        scheduled_station_ae_title="MG1",
        modality="MG",
        opening_hours=[{"weekday": 0, "opens": time(8), "closes": time(12)}],
    )
    assert starts(station, next_weekday(TUESDAY)) == []
