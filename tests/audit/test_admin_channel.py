"""The admin channel: lists, change pages, saves and actions are recorded."""

import pytest

from audit.codes import Channel
from tests.factories import order_payload
from worklist.models import Order, Patient

from .conftest import api_client_for, events_after, head, summary

pytestmark = pytest.mark.django_db

HOSP = ("AV35674", "HOSP")


@pytest.fixture
def admin_browser(client, admin_user, station):
    response = api_client_for(admin_user).post("/api/orders/", order_payload(), format="json")
    assert response.status_code == 201
    Patient.objects.create(patient_id="Z9", issuer_of_patient_id="HOSP", patient_name="Zed^Zoe")
    client.force_login(admin_user)
    return client


def test_the_patient_list_records_every_patient_shown(admin_browser):
    mark = head()
    assert admin_browser.get("/admin/worklist/patient/").status_code == 200
    [event] = events_after(mark)
    assert summary(event) == (
        "Patient Record",
        "R",
        0,
        Channel.ADMIN,
        "admin",
        [HOSP, ("Z9", "HOSP")],
    )
    assert event.role == "superuser"


def test_a_search_in_the_admin_records_only_the_patients_found(admin_browser):
    mark = head()
    admin_browser.get("/admin/worklist/patient/", {"q": "Zed"})
    [event] = events_after(mark)
    assert summary(event)[-1] == [("Z9", "HOSP")]


def test_opening_a_patient_records_the_read(admin_browser):
    """The page is read-only (the services write patients, tests/test_admin_patient_data.py):
    opening it is a read of the patient."""
    patient = Patient.objects.get(patient_id="Z9")
    url = f"/admin/worklist/patient/{patient.pk}/change/"
    mark = head()
    assert admin_browser.get(url).status_code == 200
    assert [summary(e) for e in events_after(mark)] == [
        ("Patient Record", "R", 0, "admin", "admin", [("Z9", "HOSP")])
    ]


def test_the_cancel_action_records_the_orders_read_and_changed(admin_browser):
    order = Order.objects.get()
    mark = head()
    admin_browser.post(
        "/admin/worklist/order/", {"action": "cancel_orders", "_selected_action": [order.pk]}
    )
    assert [summary(e) for e in events_after(mark)] == [
        ("Order Record", "U", 0, "admin", "admin", [HOSP]),
        ("Order Record", "R", 0, "admin", "admin", [HOSP]),
    ]


def test_the_step_list_records_its_patients(admin_browser):
    mark = head()
    assert admin_browser.get("/admin/worklist/scheduledprocedurestep/").status_code == 200
    [event] = events_after(mark)
    assert summary(event) == ("Procedure Record", "R", 0, "admin", "admin", [HOSP])


def test_the_order_history_list_records_the_orders_shown(admin_browser):
    mark = head()
    page = admin_browser.get("/admin/worklist/orderevent/")
    assert page.status_code == 200
    assert b"A0001" in page.content
    [event] = events_after(mark)
    assert summary(event) == ("Order Record", "R", 0, "admin", "admin", [HOSP])
    assert ["accession_number", "A0001"] in event.participant_objects


def test_every_admin_page_of_patient_data_reads_through_an_audited_selector():
    from django.contrib import admin

    from audit.admin import AuditedAdmin

    patient_data = {
        "Patient",
        "PatientAlias",
        "Order",
        "OrderEvent",
        "RequestedProcedure",
        "ScheduledProcedureStep",
        "PerformedProcedureStep",
        "Study",
        "StudyDecision",
        "StudyDiscrepancy",
    }
    unaudited = [
        model.__name__
        for model, model_admin in admin.site._registry.items()
        if model.__name__ in patient_data and not isinstance(model_admin, AuditedAdmin)
    ]
    assert unaudited == []


def test_the_patient_alias_list_records_the_survivors_shown(admin_browser):
    from worklist.models import PatientAlias

    PatientAlias.objects.create(
        patient_id="OLD1",
        issuer_of_patient_id="HOSP",
        survivor=Patient.objects.get(patient_id="Z9"),
    )
    mark = head()
    assert admin_browser.get("/admin/worklist/patientalias/").status_code == 200
    [event] = events_after(mark)
    # the merged identifier and its survivor: both name the same person
    assert summary(event) == (
        "Patient Record",
        "R",
        0,
        "admin",
        "admin",
        [("OLD1", "HOSP"), ("Z9", "HOSP")],
    )
