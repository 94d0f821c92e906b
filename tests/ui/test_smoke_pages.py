"""Every page of the UI answers for a scheduler."""

import pytest
from django.urls import reverse

from tests.factories import book, future_day, local, step_of

pytestmark = pytest.mark.django_db


def test_every_page_renders_for_a_scheduler(scheduler_client, rooms, catalogue, patient):
    day = future_day()
    order = book(patient=patient, start=local(day, 9), procedure=catalogue["CTHEAD"])
    step = step_of(order)
    urls = [
        reverse("home"),
        reverse("ui:patients"),
        reverse("ui:patient_new"),
        reverse("ui:patient", args=[patient.pk]),
        reverse("ui:book") + f"?patient={patient.pk}",
        reverse("ui:book") + f"?patient={patient.pk}&procedure={catalogue['CTHEAD'].pk}&day={day}",
        reverse("ui:book")
        + f"?patient={patient.pk}&procedure={catalogue['CTHEAD'].pk}&day={day}&span=week",
        reverse("ui:calendar") + f"?day={day}",
        reverse("ui:calendar") + f"?day={day}&station=CT1&span=week",
        reverse("ui:calendar") + f"?day={day}&modality=CT",
        reverse("ui:board") + "?station=CT1",
        reverse("ui:step", args=[step.pk]),
        reverse("ui:step_reschedule", args=[step.pk]),
        reverse("ui:step_cancel", args=[step.pk]),
        reverse("ui:orders"),
        reverse("ui:orders") + f"?day={day}&modality=CT&station=CT1&status=SCHEDULED",
        reverse("ui:order", args=[order.pk]),
    ]
    for url in urls:
        response = scheduler_client.get(url)
        assert response.status_code == 200, (url, response.status_code)
