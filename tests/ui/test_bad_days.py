"""Days at the ends of the calendar typed into the UI's filters and slot pickers: a
page saying the day is out of range, never a 500."""

import pytest
from django.urls import reverse

from tests.factories import book, future_day, local, step_of

pytestmark = pytest.mark.django_db

ENDS = ["0001-01-01", "9999-12-31"]


@pytest.mark.parametrize("day", ENDS)
def test_calendar_board_and_orders_survive_the_ends_of_the_calendar(scheduler_client, rooms, day):
    for name in ("ui:calendar", "ui:board", "ui:orders"):
        response = scheduler_client.get(reverse(name), {"day": day})
        assert response.status_code in (200, 400), name


@pytest.mark.parametrize("day", ENDS)
def test_booking_and_rescheduling_survive_the_ends_of_the_calendar(
    scheduler_client, rooms, catalogue, patient, day
):
    response = scheduler_client.get(
        reverse("ui:book"),
        {"patient": patient.pk, "procedure": catalogue["CTHEAD"].pk, "day": day},
    )
    assert response.status_code in (200, 400)
    assert "Must be between" in response.content.decode()
    step = step_of(book(patient=patient, start=local(future_day(), 9)))
    response = scheduler_client.get(reverse("ui:step_reschedule", args=[step.pk]), {"day": day})
    assert response.status_code in (200, 400)
    assert "Must be between" in response.content.decode()


def test_a_patient_born_in_the_future_is_not_registered(scheduler_client, make_user, client):
    from worklist.models import Patient

    client.force_login(make_user("reg", "scheduler"))
    response = client.post(
        reverse("ui:patient_new"),
        {
            "patient_id": "P77",
            "family_name": "Doe",
            "given_name": "Jo",
            "patient_birth_date": future_day(3).isoformat(),
            "patient_sex": "F",
        },
    )
    assert response.status_code in (200, 400)
    assert not Patient.objects.filter(patient_id="P77").exists()
    assert "future" in response.content.decode()
