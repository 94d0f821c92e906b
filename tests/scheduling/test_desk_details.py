"""Smaller things of the desk: the orders list opens on today, filters by patient and
says when a filter value cannot be read; patient search by partial ID and by a birth
date typed in the box; messages name the exam, not step IDs; loaddemo shows progress;
the board remembers its room and marks the exam under way."""

from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from tests import factories
from tests.factories import book, future_day, local, step_of

pytestmark = pytest.mark.django_db


def today_at(hour, minute=0):
    return timezone.localtime().replace(hour=hour, minute=minute, second=0, microsecond=0)


def yesterday():
    return timezone.now() - timedelta(days=1)


def listed(response):
    return [o.accession_number for o in response.context["page"].object_list]


def test_orders_open_on_today_and_filter_by_patient(scheduler_client, rooms, patient):
    book(start=today_at(8), accession_number="TODAY1", booked_at=yesterday())
    book(start=today_at(9), accession_number="TODAY2", patient=patient, booked_at=yesterday())
    book(start=local(future_day(3), 9), accession_number="LATER1", patient=patient)
    assert sorted(listed(scheduler_client.get(reverse("ui:orders")))) == ["TODAY1", "TODAY2"]
    every_day = scheduler_client.get(
        reverse("ui:orders"), {"day": "", "patient_id": patient.patient_id.lower()}
    )
    assert sorted(listed(every_day)) == ["LATER1", "TODAY2"]


def test_an_unreadable_filter_is_said_and_the_others_apply(scheduler_client, rooms, patient):
    book(start=local(future_day(3), 9), accession_number="ACC1", patient=patient)
    book(start=local(future_day(3), 10), accession_number="ACC2")
    response = scheduler_client.get(
        reverse("ui:orders"), {"day": "2026-13-45", "patient_id": patient.patient_id}
    )
    page = response.content.decode()
    assert "Not understood, so not applied: Date" in page
    assert listed(response) == ["ACC1"]


def test_patient_search_by_partial_id_and_typed_birth_date(scheduler_client):
    factories.patient(
        "HOSP-77123", patient_name="Vivaldi^Antonio", patient_birth_date=date(1978, 3, 4)
    )
    factories.patient(
        "HOSP-88000", patient_name="Bach^Johann", patient_birth_date=date(1985, 3, 21)
    )
    for typed in ("77123", "hosp-771", "1978-03-04", "04.03.1978"):
        response = scheduler_client.get(reverse("ui:patients"), {"q": typed})
        found = [p.patient_id for p in response.context["result"].patients]
        assert found == ["HOSP-77123"], typed


def test_messages_name_the_exam(scheduler_client, rooms, catalogue, patient):
    day = future_day(2)
    step = step_of(book(patient=patient, start=local(day, 9), procedure=catalogue["CTHEAD"]))
    response = scheduler_client.post(
        reverse("ui:step_reschedule", args=[step.pk]),
        {"slot": f"CT2|{local(day, 14, 30).isoformat()}"},
        follow=True,
    )
    page = response.content.decode()
    assert (
        f"Moved CT head for Müller, Anna at 14:30 on {day:%a} {day.day} {day:%b %Y} in CT2" in page
    )
    assert step.scheduled_procedure_step_id not in page.split('class="messages"')[1][:300]


def test_loaddemo_shows_progress(role_groups):
    out = StringIO()
    call_command("loaddemo", patients=5, days_before=1, days_after=1, stdout=out)
    text = out.getvalue()
    assert "Day 1/2" in text and "Day 2/2" in text
    assert "Demo loaded" in text


def test_board_remembers_the_room_and_marks_the_current_exam(technologist_client, rooms):
    factories.station("CT7", "CT")  # open around the clock: an exam under way at any hour
    start = timezone.localtime().replace(minute=0, second=0, microsecond=0)
    current = step_of(book(ae_title="CT7", start=start, minutes=60, booked_at=yesterday()))
    technologist_client.get(reverse("ui:board"), {"station": "CT7"})
    again = technologist_client.get(reverse("ui:board"))
    assert again.context["station"].scheduled_station_ae_title == "CT7"
    assert again.context["current"] == current
    assert 'id="current-exam"' in again.content.decode()
