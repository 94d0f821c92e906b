"""A patient's page lists the patient's orders and their status."""

import pytest
from django.urls import reverse

from tests.factories import book, future_day, local
from worklist.services.booking import order_cancel

pytestmark = pytest.mark.django_db


def test_patient_page_lists_orders_with_status(scheduler_client, rooms, catalogue, patient):
    kept = book(patient=patient, start=local(future_day(), 9), procedure=catalogue["CTHEAD"])
    cancelled = book(patient=patient, start=local(future_day(), 10), procedure=catalogue["CTCHEST"])
    order_cancel(order=cancelled, reason="Patient declined")

    page = scheduler_client.get(reverse("ui:patient", args=[patient.pk])).content.decode()
    assert "Müller, Anna" in page
    assert kept.accession_number in page and cancelled.accession_number in page
    assert "CT head" in page and "CT chest" in page
    assert "CANCELLED" in page and "SCHEDULED" in page
    assert f"?patient={patient.pk}" in page  # Book an exam


def test_unknown_patient_is_not_found(scheduler_client):
    assert scheduler_client.get(reverse("ui:patient", args=[999])).status_code == 404
