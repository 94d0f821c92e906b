"""The REST API channel: each request writes exactly the events of what it touched."""

import pytest

from audit import chain
from audit.codes import Channel, Outcome
from tests.factories import api_booked, future_day, order_payload, payload_time

from .conftest import api_client_for, events_after, head, summary

pytestmark = pytest.mark.django_db

HOSP = ("AV35674", "HOSP")


@pytest.fixture
def alice_api(scheduler):
    return api_client_for(scheduler)


@pytest.fixture
def booked(alice_api, station):
    return api_booked(alice_api)


def test_booking_an_order_records_the_order_record_created(alice_api, station, mark):
    response = alice_api.post(
        "/api/orders/", order_payload(), format="json", HTTP_X_REQUEST_ID="req-book-1"
    )
    assert response.status_code == 201
    [event] = events_after(mark)
    assert summary(event) == ("Order Record", "C", 0, Channel.API, "alice", [HOSP])
    assert event.participant_objects == [
        ["accession_number", "A0001"],
        ["study_instance_uid", response.json()["study_instance_uid"]],
    ]
    assert (event.source_ip, event.correlation_id) == ("127.0.0.1", "req-book-1")
    assert event.role == "scheduler"
    assert response["X-Request-ID"] == "req-book-1"
    assert chain.verify().intact  # the role read by the database hashes alike


def test_a_list_records_each_patient_on_the_page(alice_api, booked):
    for index in range(3):
        payload = order_payload(
            patient={"patient_id": f"P{index}", "issuer_of_patient_id": ""},
            accession_number=f"ACC{index}",
            requested_procedure_id=f"RP{index}",
            step={
                "scheduled_procedure_step_id": f"S{index}",
                "scheduled_procedure_step_start_datetime": payload_time(
                    10 + index, day=future_day(3)
                ),
            },
        )
        assert alice_api.post("/api/orders/", payload, format="json").status_code == 201
    mark = head()

    alice_api.get("/api/patients/", {"page_size": 2, "ordering": "patient_id"})

    [event] = events_after(mark)
    assert summary(event)[:5] == ("Patient Record", "R", 0, Channel.API, "alice")
    assert len(event.patients.all()) == 2
    assert event.detail == "GET /api/patients/"


def test_reading_one_patient_records_that_patient(alice_api, booked):
    patient_pk = alice_api.get("/api/patients/").json()["results"][0]["id"]
    mark = head()
    alice_api.get(f"/api/patients/{patient_pk}/")
    assert [summary(e) for e in events_after(mark)] == [
        ("Patient Record", "R", 0, Channel.API, "alice", [HOSP])
    ]


def test_changing_a_patient_records_the_read_and_the_update(alice_api, booked):
    patient_pk = alice_api.get("/api/patients/").json()["results"][0]["id"]
    mark = head()
    response = alice_api.patch(
        f"/api/patients/{patient_pk}/", {"allergies": "Latex"}, format="json"
    )
    assert response.status_code == 200
    assert [summary(e) for e in events_after(mark)] == [
        ("Patient Record", "U", 0, Channel.API, "alice", [HOSP]),
        ("Patient Record", "R", 0, Channel.API, "alice", [HOSP]),
    ]


def test_cancelling_an_order_records_the_update(alice_api, booked):
    mark = head()
    response = alice_api.post(f"/api/orders/{booked['id']}/cancel/", {"reason": "No show"})
    assert response.status_code == 200
    update, read = events_after(mark)
    assert summary(update) == ("Order Record", "U", 0, Channel.API, "alice", [HOSP])
    assert update.detail.endswith("[order_cancel]")
    assert summary(read) == ("Order Record", "R", 0, Channel.API, "alice", [HOSP])


def test_listing_procedure_steps_records_their_patients(alice_api, booked):
    mark = head()
    alice_api.get("/api/procedure-steps/")
    [event] = events_after(mark)
    assert summary(event) == ("Procedure Record", "R", 0, Channel.API, "alice", [HOSP])
    assert ["scheduled_procedure_step_id", "SPS0001"] in event.participant_objects


def test_a_refused_booking_is_recorded_as_a_minor_failure(alice_api, booked):
    mark = head()
    clash = order_payload(
        patient={"patient_name": "Someone^Else"},
        accession_number="A0002",
        requested_procedure_id="RP2",
        step={"scheduled_procedure_step_id": "SPS2"},
    )
    assert alice_api.post("/api/orders/", clash, format="json").status_code == 409
    [event] = events_after(mark)
    assert summary(event) == ("Order Record", "C", Outcome.MINOR_FAILURE, "api", "alice", [HOSP])
    assert event.detail == "POST /api/orders/ [order_create: Conflict]"


def test_a_request_without_permission_is_a_security_alert(django_user_model, booked):
    from .conftest import make_user

    nobody = make_user(django_user_model, "nobody")
    mark = head()
    assert api_client_for(nobody).get("/api/patients/").status_code == 403
    [event] = events_after(mark)
    assert summary(event) == ("Security Alert", "E", 4, "api", "nobody", [])
    assert event.event_type_code == "110132"


def test_a_bad_token_is_a_failed_authentication(client, mark):
    response = client.get("/api/patients/", HTTP_AUTHORIZATION="Token not-a-token")
    assert response.status_code == 401
    [event] = events_after(mark)
    assert summary(event) == ("User Authentication", "E", 4, "api", "REST API", [])
