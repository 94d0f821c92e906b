"""The safety rules on the scheduler's pages: a move onto the patient's other exam is
refused naming it, the board shows each patient's alerts."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import book, future_day, local, step_of

pytestmark = pytest.mark.django_db


def test_reschedule_onto_the_patients_other_exam_names_it(scheduler_client, rooms, patient):
    day = future_day(3)
    other = step_of(book(patient=patient, ae_title="CT1", start=local(day, 9)))
    step = step_of(book(patient=patient, ae_title="CT2", start=local(day, 11)))
    response = scheduler_client.post(
        reverse("ui:step_reschedule", args=[step.pk]),
        {"slot": f"CT2|{local(day, 9).isoformat()}", "day": day.isoformat()},
    )
    assert response.status_code == 409
    page = response.content.decode()
    assert other.scheduled_procedure_step_id in page
    assert "already booked" in page
    assert "needs the permission" in page  # a scheduler may not override by default
    step.refresh_from_db()
    assert timezone.localtime(step.start).hour == 11


def test_board_shows_the_patients_alerts(technologist_client, rooms, catalogue):
    from tests import factories

    paced = factories.patient("P77", medical_alerts="Pacemaker", pregnancy_status=2)
    now = timezone.localtime()
    start = now.replace(hour=10, minute=0, second=0, microsecond=0)
    book(patient=paced, start=start, booked_at=start - timedelta(days=1))
    page = technologist_client.get(reverse("ui:board"), {"station": "CT1"}).content.decode()
    assert "Medical alert: Pacemaker" in page
    assert "Pregnancy: Possibly pregnant" in page
