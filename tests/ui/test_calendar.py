"""Day and week views per room, and the rooms of a modality side by side."""

from datetime import timedelta

import pytest
from django.urls import reverse

from tests.factories import book, future_day, local, step_of
from worklist.models import ScheduledProcedureStep, StepStatus
from worklist.services.stations import station_create

pytestmark = pytest.mark.django_db


def grid(client, **query):
    response = client.get(reverse("ui:calendar"), query)
    assert response.status_code == 200
    return response.context["grid"], response.content.decode()


def test_day_view_of_a_room_shows_patient_procedure_and_status(
    scheduler_client, rooms, catalogue, patient
):
    day = future_day()
    step = step_of(book(patient=patient, start=local(day, 9), procedure=catalogue["CTHEAD"]))
    calendar, page = grid(scheduler_client, station="CT1", day=day.isoformat())
    [column] = calendar.columns
    [block] = column.blocks
    assert (block.time_text, block.patient_text, block.procedure_text) == (
        "09:00",
        "Müller, Anna",
        "CT head",
    )
    assert f'href="/steps/{step.pk}/"' in page
    assert 'class="blk scheduled"' in page
    assert "09:00–09:15 Müller, Anna, CT head, SCHEDULED" in page


def test_each_status_has_its_colour_class(scheduler_client, rooms, patient):
    day = future_day()
    for hour, status in (
        (8, StepStatus.SCHEDULED),
        (9, StepStatus.IN_PROGRESS),
        (10, StepStatus.COMPLETED),
        (11, StepStatus.DISCONTINUED),
    ):
        step = step_of(book(patient=patient, start=local(day, hour)))
        ScheduledProcedureStep.objects.filter(pk=step.pk).update(
            scheduled_procedure_step_status=status
        )
    _, page = grid(scheduler_client, station="CT1", day=day.isoformat())
    for css in ("scheduled", "in-progress", "completed", "discontinued"):
        assert f'class="blk {css}"' in page


def test_blocks_are_placed_by_local_time_and_duration(scheduler_client, rooms, patient):
    day = future_day()
    book(patient=patient, start=local(day, 8), minutes=30)
    calendar, _ = grid(scheduler_client, station="CT1", day=day.isoformat())
    assert (calendar.first_hour, calendar.last_hour) == (7, 19)  # opening hours
    [block] = calendar.columns[0].blocks
    assert block.top == 96.0  # one hour below 07:00
    assert block.height == 30 * 1.6 - 2


def test_week_view_of_a_room_has_a_column_per_day_from_monday(scheduler_client, rooms, patient):
    day = future_day()
    book(patient=patient, start=local(day, 9))
    calendar, page = grid(scheduler_client, station="CT1", day=day.isoformat(), span="week")
    days = [column.day for column in calendar.columns]
    assert len(days) == 7 and days[0].weekday() == 0
    assert day in days
    assert calendar.step_count == 1


def test_rooms_of_a_modality_side_by_side(scheduler_client, rooms, patient):
    day = future_day()
    book(patient=patient, ae_title="CT1", start=local(day, 9))
    book(patient_id="P2", ae_title="CT2", start=local(day, 9))
    book(patient_id="P3", ae_title="MR1", start=local(day, 9))
    calendar, _ = grid(scheduler_client, modality="CT", day=day.isoformat())
    assert [c.station.scheduled_station_ae_title for c in calendar.columns] == ["CT1", "CT2"]
    assert calendar.step_count == 2


def test_all_rooms_without_a_filter_and_a_day_for_several_rooms(scheduler_client, rooms):
    calendar, _ = grid(scheduler_client, span="week")
    assert len(calendar.columns) == 3  # a week is shown for one room only


def test_previous_and_next_move_by_the_span(scheduler_client, rooms):
    day = future_day()
    response = scheduler_client.get(reverse("ui:calendar"), {"station": "CT1", "day": day})
    links = response.context["links"]
    assert f"day={day - timedelta(days=1)}" in links["previous"]
    assert f"day={day + timedelta(days=1)}" in links["next"]


def test_the_view_is_reloaded_as_a_fragment_by_htmx(scheduler_client, rooms):
    response = scheduler_client.get(reverse("ui:calendar"), HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert page.lstrip().startswith('<section id="calendar"')


def test_a_step_crossing_midnight_shows_on_both_days(scheduler_client, patient, db):
    station_create(scheduled_station_ae_title="ER1", modality="CT")
    day = future_day()
    book(patient=patient, ae_title="ER1", start=local(day, 23, 30), minutes=60)
    first, _ = grid(scheduler_client, station="ER1", day=day.isoformat())
    second, _ = grid(scheduler_client, station="ER1", day=(day + timedelta(days=1)).isoformat())
    assert first.step_count == second.step_count == 1
    assert second.columns[0].blocks[0].top == 0
