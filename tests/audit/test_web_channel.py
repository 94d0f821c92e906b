"""The web UI channel: logging in, searching, opening records, registering a patient
and cancelling an order each write exactly the events of what they touched."""

import pytest

from audit.codes import Channel
from tests.factories import future_day, order_payload
from worklist.models import Order, Patient

from .conftest import api_client_for, events_after, head, summary

pytestmark = pytest.mark.django_db

HOSP = ("AV35674", "HOSP")


@pytest.fixture
def browser(client, scheduler, station):
    response = api_client_for(scheduler).post("/api/orders/", order_payload(), format="json")
    assert response.status_code == 201
    client.force_login(scheduler)
    return client


def test_logging_in_through_the_login_page(client, scheduler, mark):
    response = client.post("/login/", {"username": "alice", "password": "pw-Secret-1"})
    assert response.status_code == 302
    [event] = events_after(mark)
    assert summary(event) == ("User Authentication", "E", 0, Channel.WEB, "alice", [])
    assert event.event_type_code == "110122"


def test_searching_patients_records_those_found(browser):
    Patient.objects.create(patient_id="OTHER", patient_name="Bach^Johann")
    mark = head()
    response = browser.post("/patients/", {"q": "vivaldi"})
    assert response.status_code == 200
    assert [summary(e) for e in events_after(mark)] == [
        ("Patient Record", "R", 0, Channel.WEB, "alice", [HOSP])
    ]


def test_a_search_finding_nobody_records_nothing(browser):
    mark = head()
    browser.post("/patients/", {"q": "nobody-of-that-name"})
    assert events_after(mark) == []


def test_opening_a_patient_records_the_record_and_the_orders_shown(browser):
    patient = Patient.objects.get()
    mark = head()
    assert browser.get(f"/patients/{patient.pk}/").status_code == 200
    assert [summary(e) for e in events_after(mark)] == [
        ("Patient Record", "R", 0, Channel.WEB, "alice", [HOSP]),
        ("Order Record", "R", 0, Channel.WEB, "alice", [HOSP]),
    ]


def test_the_calendar_records_the_patients_booked_on_it(browser):
    mark = head()
    response = browser.get("/calendar/", {"station": "CT1", "day": future_day().isoformat()})
    assert response.status_code == 200
    [event] = events_after(mark)
    assert summary(event) == ("Procedure Record", "R", 0, Channel.WEB, "alice", [HOSP])


def test_registering_a_patient_records_its_creation(browser):
    mark = head()
    response = browser.post(
        "/patients/new/",
        {
            "patient_id": "NEW1",
            "issuer_of_patient_id": "HOSP",
            "family_name": "Neu",
            "given_name": "Anna",
            "patient_birth_date": "1990-05-06",
            "patient_sex": "F",
        },
    )
    assert response.status_code == 302
    assert [summary(e) for e in events_after(mark)] == [
        ("Patient Record", "C", 0, Channel.WEB, "alice", [("NEW1", "HOSP")])
    ]


def test_cancelling_an_order_in_the_ui(browser):
    order = Order.objects.get()
    mark = head()
    response = browser.post(f"/orders/{order.pk}/cancel/", {"reason": "Patient declined"})
    assert response.status_code == 302
    assert [summary(e)[:2] for e in events_after(mark)] == [
        ("Order Record", "U"),
        ("Order Record", "R"),
    ]
