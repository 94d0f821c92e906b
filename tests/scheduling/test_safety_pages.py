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


def test_moving_after_an_allergy_was_recorded_asks_as_booking_does(
    scheduler_client, rooms, patient
):
    from tests import factories
    from worklist.models import Order
    from worklist.services.patients import patient_update

    contrast = factories.procedure("CTABDC", "CT abdomen with contrast", "CT", 15)
    contrast.uses_contrast = True
    contrast.save()
    day = future_day(3)
    step = step_of(book(patient=patient, procedure=contrast, ae_title="CT1", start=local(day, 9)))
    patient_update(patient=patient, allergies="Iodinated contrast")
    url = reverse("ui:step_reschedule", args=[step.pk])
    move = {"slot": f"CT2|{local(day, 11).isoformat()}", "day": day.isoformat()}

    shown = scheduler_client.get(url, {"day": day.isoformat()}).content.decode()
    assert 'id="safety-confirm"' in shown
    assert "I acknowledge: Contrast allergy" in shown

    refused = scheduler_client.post(url, move)
    assert refused.status_code == 409
    assert "Acknowledge first: Contrast allergy" in refused.content.decode()
    step.refresh_from_db()
    assert timezone.localtime(step.start).hour == 9

    moved = scheduler_client.post(url, {**move, "acknowledged_alerts": "CONTRAST_ALLERGY"})
    assert moved.status_code == 302
    step.refresh_from_db()
    assert timezone.localtime(step.start).hour == 11
    order = Order.objects.get(pk=step.requested_procedure.order_id)
    assert order.alert_acknowledgements[0]["user"] == "sam"
    # acknowledged once: the next move asks nothing
    again = scheduler_client.get(url, {"day": day.isoformat()}).content.decode()
    assert "I acknowledge" not in again
