"""The scheduling grid: closed hours shaded, free gaps bookable by click for the
patient the calendar was opened for, a now-line on today, week offered for one room
only, and the week's free slots as a rooms × days table."""

from datetime import time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests import factories
from tests.factories import future_day, local
from worklist.ui.grid import build_grid

pytestmark = pytest.mark.django_db


@pytest.fixture
def morning_room(db):
    hours = [{"weekday": d, "opens": time(8), "closes": time(12)} for d in range(7)]
    return factories.station("CT9", "CT", opening_hours=hours)


def test_gaps_and_closed_hours(morning_room):
    day = future_day(2)
    step = factories.book_step(ae_title="CT9", start=local(day, 9), minutes=30)
    late = factories.station("CT8", "CT")  # open around the clock: the scale stays 08-12
    grid = build_grid(stations=[morning_room], days=[day], steps=[step])
    column = grid.columns[0]
    assert (grid.first_hour, grid.last_hour) == (8, 12)
    assert [g.text for g in column.gaps] == ["Free 08:00–09:00", "Free 09:30–12:00"]
    assert column.closed == []
    wide = build_grid(stations=[morning_room, late], days=[day], steps=[step])
    assert [g.text for g in wide.columns[1].gaps] == ["Free 08:00–12:00"]
    assert wide.columns[0].closed == wide.columns[1].closed == []


def test_closed_hours_shaded_when_the_scale_is_wider(morning_room):
    day = future_day(2)
    evening = factories.station(
        "US1",
        "US",
        opening_hours=[{"weekday": d, "opens": time(14), "closes": time(18)} for d in range(7)],
    )
    grid = build_grid(stations=[morning_room, evening], days=[day], steps=[])
    assert (grid.first_hour, grid.last_hour) == (8, 18)
    morning, afternoon = grid.columns
    assert [round(c.height / 1.6) for c in morning.closed] == [6 * 60]  # 12-18
    assert [round(c.height / 1.6) for c in afternoon.closed] == [6 * 60]  # 08-14


def test_now_line_on_today_only(morning_room):
    today = timezone.localdate()
    grid = build_grid(stations=[morning_room], days=[today, today + timedelta(days=1)], steps=[])
    now = timezone.localtime()
    expected = 8 <= now.hour < 12
    assert (grid.columns[0].now_top is not None) == expected
    assert grid.columns[1].now_top is None


def test_gap_links_book_the_patient(scheduler_client, morning_room, patient):
    day = future_day(2)
    page = scheduler_client.get(
        reverse("ui:calendar"), {"station": "CT9", "day": day.isoformat(), "patient": patient.pk}
    ).content.decode()
    assert f'href="/book/?patient={patient.pk}&amp;station=CT9&amp;day={day.isoformat()}' in page
    assert "Free 08:00–12:00" in page
    without = scheduler_client.get(
        reverse("ui:calendar"), {"station": "CT9", "day": day.isoformat()}
    ).content.decode()
    assert '<a class="gap"' not in without and "Free 08:00–12:00" in without


def test_week_offered_for_one_room_only(scheduler_client, morning_room):
    all_rooms = scheduler_client.get(reverse("ui:calendar")).context["form"]
    assert [value for value, _ in all_rooms.fields["span"].choices] == ["day"]
    one_room = scheduler_client.get(reverse("ui:calendar"), {"station": "CT9"}).context["form"]
    assert "week" in [value for value, _ in one_room.fields["span"].choices]


def test_week_of_free_slots_is_a_rooms_by_days_table(scheduler_client, rooms, catalogue, patient):
    response = scheduler_client.get(
        reverse("ui:book"),
        {
            "patient": patient.pk,
            "procedure": catalogue["CTHEAD"].pk,
            "span": "week",
            "day": future_day(2).isoformat(),
        },
    )
    page = response.content.decode()
    assert 'aria-label="Free slots, rooms by days"' in page
    assert page.count('<th scope="row">') == 2  # CT1, CT2
