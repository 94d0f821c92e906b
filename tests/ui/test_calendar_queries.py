"""The busiest calendar pages render in a constant number of SQL queries
(render times are measured in bench/render_calendar.py, not asserted here).

Two counts: the worklist reads are exactly four (stations, their opening hours, the
version of the calendar a poll compares, the steps with order and patient); the whole
request, with session, permissions and the access audit's record of the patients
shown, stays under a bound that does not grow with the steps (an N+1 would add one
per step)."""

from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests import factories
from tests.factories import future_day

pytestmark = pytest.mark.django_db

WORKLIST_READS = 4
BOARD_READS = 3  # the board does not poll for a version
REQUEST_QUERIES_AT_MOST = 16


@pytest.fixture
def assert_constant_queries(django_assert_max_num_queries):
    @contextmanager
    def check(worklist_reads=WORKLIST_READS):
        with django_assert_max_num_queries(REQUEST_QUERIES_AT_MOST) as captured:
            yield
        worklist = [q["sql"] for q in captured.captured_queries if '"worklist_' in q["sql"]]
        assert len(worklist) == worklist_reads, worklist

    return check


def fill(ae_titles, day, per_room, minutes=12, first_hour=6):
    """Rooms booked back to back from first_hour on `day`, booked the day before."""
    number = 0
    for ae_title in ae_titles:
        factories.station(ae_title, ae_title[:2])
        start = factories.local(day, first_hour)
        for index in range(per_room):
            number += 1
            factories.book(
                ae_title=ae_title,
                start=start + timedelta(minutes=minutes * index),
                minutes=minutes,
                patient={"patient_id": f"{ae_title}-{number}", "patient_name": f"Doe^P{number}"},
                booked_at=start - timedelta(days=1),
            )


def test_busy_room_day_view_of_60_steps_in_constant_queries(
    scheduler_client, assert_constant_queries
):
    day = future_day()
    fill(["CT1"], day, per_room=60)
    url = reverse("ui:calendar") + f"?station=CT1&day={day}"
    with assert_constant_queries():
        response = scheduler_client.get(url)
    assert response.context["grid"].step_count == 60


def test_all_rooms_day_view_of_500_steps_in_constant_queries(
    scheduler_client, assert_constant_queries
):
    day = future_day()
    rooms = [f"{m}{n}" for m in ("CT", "MR", "US", "CR", "MG") for n in (1, 2)]
    fill(rooms, day, per_room=50, first_hour=7)
    with assert_constant_queries():
        response = scheduler_client.get(reverse("ui:calendar") + f"?day={day}")
    assert response.context["grid"].step_count == 500
    assert len(response.context["grid"].columns) == 10


def test_week_view_and_board_do_not_grow_with_the_steps(scheduler_client, assert_constant_queries):
    day = future_day()
    fill(["CT1"], day, per_room=40)
    with assert_constant_queries():
        scheduler_client.get(reverse("ui:calendar") + f"?station=CT1&day={day}&span=week")
    fill(["CT2"], timezone.localdate(), per_room=40, first_hour=0)
    with assert_constant_queries(worklist_reads=BOARD_READS):
        response = scheduler_client.get(reverse("ui:board") + "?station=CT2")
    assert len(response.context["steps"]) == 40
