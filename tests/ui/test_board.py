"""Today's board of a room, for the technologist at the console."""

from datetime import datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import book

pytestmark = pytest.mark.django_db


def today_at(hour):
    return datetime.combine(
        timezone.localdate(), time(hour), tzinfo=timezone.get_default_timezone()
    )


def test_board_lists_todays_steps_of_the_room_in_time_order(
    technologist_client, rooms, catalogue, patient
):
    # Today's room hours are 07-19; today's exams were booked yesterday.
    yesterday = timezone.now() - timedelta(days=1)
    book(start=today_at(11), procedure=catalogue["CTCHEST"], patient=patient, booked_at=yesterday)
    book(start=today_at(8), procedure=catalogue["CTHEAD"], patient=patient, booked_at=yesterday)
    book(start=today_at(9) + timedelta(days=1), patient=patient)
    book(ae_title="CT2", start=today_at(10), patient=patient, booked_at=yesterday)

    response = technologist_client.get(reverse("ui:board"), {"station": "CT1"})
    steps = response.context["steps"]
    assert [timezone.localtime(s.start).hour for s in steps] == [8, 11]
    page = response.content.decode()
    assert "Müller, Anna" in page and "P1001" in page and "1970-05-17" in page
    assert "CT head" in page and "SCHEDULED" in page


def test_board_refreshes_itself(technologist_client, rooms):
    page = technologist_client.get(reverse("ui:board")).content.decode()
    assert 'hx-trigger="every 60s"' in page


def test_board_without_a_room_chosen_shows_the_first(technologist_client, rooms):
    response = technologist_client.get(reverse("ui:board"))
    assert response.context["station"].scheduled_station_ae_title == "CT1"
