"""Patient data is written by its services only: the admin shows patients, orders,
requested procedures and steps read-only, links each to its page in the RIS, and
refuses a save, an addition or a deletion, so no admin form can change a procedure
without the alerts' acknowledgement or move a step past the booking rules."""

import pytest
from django.urls import reverse

from worklist.models import Order, Patient, RequestedProcedure, ScheduledProcedureStep

from .factories import order_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def booked(admin_user, client, api, station):
    assert api.post("/api/orders/", order_payload(), format="json").status_code == 201
    client.force_login(admin_user)
    return client


def records():
    order = Order.objects.get()
    return {
        "patient": (order.patient, reverse("ui:patient", args=[order.patient.pk])),
        "order": (order, reverse("ui:order", args=[order.pk])),
        "requestedprocedure": (
            RequestedProcedure.objects.get(),
            reverse("ui:order", args=[order.pk]),
        ),
        "scheduledprocedurestep": (
            ScheduledProcedureStep.objects.get(),
            reverse("ui:step", args=[ScheduledProcedureStep.objects.get().pk]),
        ),
    }


@pytest.mark.parametrize(
    "model", ["patient", "order", "requestedprocedure", "scheduledprocedurestep"]
)
def test_the_change_page_is_read_only_and_links_to_the_ris_page(booked, model):
    record, ris_page = records()[model]
    page = booked.get(reverse(f"admin:worklist_{model}_change", args=[record.pk]))
    assert page.status_code == 200
    content = page.content.decode()
    assert 'name="_save"' not in content  # no save button
    assert "<textarea" not in content and 'type="text"' not in content
    assert ris_page in content  # "View on site" goes to the RIS page that edits it


@pytest.mark.parametrize(
    "model", ["patient", "order", "requestedprocedure", "scheduledprocedurestep"]
)
def test_a_save_posted_anyway_is_refused_and_changes_nothing(booked, model):
    record, _ = records()[model]
    before = type(record).objects.filter(pk=record.pk).values().get()
    response = booked.post(
        reverse(f"admin:worklist_{model}_change", args=[record.pk]),
        {"patient_name": "Forged^Name", "requested_procedure_description": "MR with contrast"},
    )
    assert response.status_code == 403
    assert type(record).objects.filter(pk=record.pk).values().get() == before


def test_no_patient_is_added_or_deleted_in_the_admin(booked):
    patient = Patient.objects.get()
    assert booked.get(reverse("admin:worklist_patient_add")).status_code == 403
    deleted = booked.post(
        reverse("admin:worklist_patient_delete", args=[patient.pk]), {"post": "yes"}
    )
    assert deleted.status_code == 403
    assert Patient.objects.filter(pk=patient.pk).exists()
