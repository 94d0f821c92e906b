"""Bad input to the REST API (issue 12): every refusal is a JSON 4xx naming what is
wrong, nothing is written, and nothing a client sends makes a 500."""

import json

import pytest

from tests.factories import api_booked, future_day, order_payload, post_order
from worklist.models import Order, Patient, Station

pytestmark = pytest.mark.django_db


def _is_json(response) -> bool:
    return response["Content-Type"].startswith("application/json")


# --- unknown fields ---------------------------------------------------------------


def test_a_patch_of_a_patient_with_an_unknown_field_is_refused_and_writes_nothing(api, station):
    from audit.models import Event

    order = api_booked(api)
    patient_pk = order["patient"]["id"]
    before = Event.objects.count()
    response = api.patch(
        f"/api/patients/{patient_pk}/",
        {"allergies": "Latex", "patient_birthdate": "1970-01-01"},
        format="json",
    )
    assert response.status_code == 400
    assert "patient_birthdate" in response.json()
    assert Patient.objects.get(pk=patient_pk).allergies == ""
    assert not Event.objects.filter(pk__gt=before, event_action_code="U").exists()


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/stations/", {"scheduled_station_ae_title": "MR9", "modality": "MR", "colour": 1}),
        (
            "/api/stations/",
            {
                "scheduled_station_ae_title": "MR9",
                "modality": "MR",
                "opening_hours": [{"weekday": 0, "opens": "08:00", "closes": "09:00", "x": 1}],
            },
        ),
        ("/api/procedures/", {"code_value": "X", "coding_scheme_designator": "L", "y": 2}),
        ("/api/patients/", {"patient_id": "P9", "patient_name": "A^B", "nickname": "Al"}),
        ("/api/modalities/", {"ae_title": "MOD1", "kind": "CT", "z": 3}),
    ],
)
def test_unknown_fields_are_refused_on_every_writable_resource(api, path, body):
    response = api.post(path, body, format="json")
    assert response.status_code == 400, response.content
    assert _is_json(response)
    assert not Station.objects.filter(scheduled_station_ae_title="MR9").exists()


# --- malformed and huge bodies ----------------------------------------------------------


def test_deeply_nested_json_is_a_400(api, station):
    body = "[" * 100_000 + "]" * 100_000
    response = api.generic("POST", "/api/orders/", body, content_type="application/json")
    assert response.status_code == 400
    assert _is_json(response)


def test_a_10_megabyte_body_is_a_json_413(api, station):
    payload = order_payload(imaging_service_request_comments="x" * (10 * 1024 * 1024))
    response = api.generic(
        "POST", "/api/orders/", json.dumps(payload), content_type="application/json"
    )
    assert response.status_code == 413
    assert _is_json(response)
    assert "Traceback" not in response.content.decode()


def test_an_unknown_api_path_is_a_json_404(api):
    response = api.get("/api/nothing-here/")
    assert response.status_code == 404
    assert _is_json(response)


# --- date-times -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "start",
    [
        "2030-01-02T25:00:00+01:00",
        "2030-01-02T10:00:00+25:00",
        "2030-02-30T10:00:00+01:00",
        "9999-12-31T23:59:00+00:00",
        "9999-12-31T23:59:00-12:00",
        "0001-01-01T00:00:00+14:00",
    ],
)
def test_out_of_range_date_times_are_a_400_naming_the_field(api, station, start):
    response = post_order(api, step={"scheduled_procedure_step_start_datetime": start})
    assert response.status_code == 400, response.content
    step_errors = response.json()["scheduled_procedure_steps"]["0"]
    assert "scheduled_procedure_step_start_datetime" in step_errors
    assert not Order.objects.exists()


@pytest.mark.parametrize("start", ["9999-12-31T23:59:00+00:00", "2030-01-02T24:00:00+01:00"])
def test_moving_a_step_to_the_end_of_time_is_a_400(api, station, start):
    step = api_booked(api)["scheduled_procedure_steps"][0]
    response = api.patch(
        f"/api/procedure-steps/{step['id']}/",
        {"scheduled_procedure_step_start_datetime": start},
        format="json",
    )
    assert response.status_code == 400
    assert "scheduled_procedure_step_start_datetime" in response.json()


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
@pytest.mark.parametrize("path", ["/api/procedure-steps/", "/api/performed-steps/"])
def test_day_filters_at_the_ends_of_the_calendar_answer_no_500(api, station, day, path):
    response = api.get(path, {"date": day})
    assert response.status_code in (200, 400)
    assert _is_json(response)


# --- refused values ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["^^^", "   ", "^ ^ =^", "="])
def test_a_name_made_only_of_separators_is_refused(api, name):
    response = api.post("/api/patients/", {"patient_id": "P9", "patient_name": name}, format="json")
    assert response.status_code == 400
    assert "patient_name" in response.json()


def test_a_birth_date_in_the_future_is_refused(api, station):
    tomorrow = future_day(1).isoformat()
    response = api.post(
        "/api/patients/",
        {"patient_id": "P9", "patient_name": "A^B", "patient_birth_date": tomorrow},
        format="json",
    )
    assert response.status_code == 400
    assert "patient_birth_date" in response.json()
    response = post_order(api, patient={"patient_birth_date": tomorrow})
    assert response.status_code == 400
    assert "patient_birth_date" in response.json()["patient"]


def test_booking_on_an_inactive_station_is_refused(api, station):
    Station.objects.filter(pk=station.pk).update(active=False)
    response = post_order(api)
    assert response.status_code == 400
    assert "scheduled_station_ae_title" in response.json()["scheduled_procedure_steps"]["0"]


def test_booking_a_step_on_a_station_of_another_modality_is_refused(api, station):
    response = post_order(api, step={"modality": "MR"})
    assert response.status_code == 400
    assert "scheduled_station_ae_title" in response.json()["scheduled_procedure_steps"]["0"]


def test_moving_a_step_to_a_room_of_another_modality_or_inactive_is_refused(api, station):
    from tests import factories

    factories.station("MR1", "MR")
    factories.station("CT2", "CT", active=False)
    step = api_booked(api)["scheduled_procedure_steps"][0]
    for ae_title in ("MR1", "CT2"):
        response = api.patch(
            f"/api/procedure-steps/{step['id']}/",
            {"scheduled_station_ae_title": ae_title},
            format="json",
        )
        assert response.status_code == 400, ae_title
        assert "scheduled_station_ae_title" in response.json()


@pytest.mark.parametrize("text", ["Evil\u202eman", "Bell\x07", "Next\x85line", "Iso\u2066late"])
def test_control_and_bidi_override_characters_are_refused(api, station, text):
    response = post_order(api, reason_for_the_requested_procedure=text)
    assert response.status_code == 400
    assert "reason_for_the_requested_procedure" in response.json()
    order = api_booked(api)
    response = api.post(f"/api/orders/{order['id']}/cancel/", {"reason": text}, format="json")
    assert response.status_code == 400
    assert "reason" in response.json()


def test_control_characters_in_a_patient_name_are_refused(api):
    response = api.post(
        "/api/patients/", {"patient_id": "P9", "patient_name": "Ev\u202eil^A"}, format="json"
    )
    assert response.status_code == 400
    assert "patient_name" in response.json()


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"scheduled_procedure_steps": "many"}, "scheduled_procedure_steps"),
        (
            {
                "requested_procedure_code_sequence": [
                    {"code_value": "X", "coding_scheme_designator": "L", "code_meaning": "x"}
                ]
                * 1000
            },
            "requested_procedure_code_sequence",
        ),
    ],
)
def test_absurd_collection_sizes_are_refused(api, station, overrides, field):
    if overrides.get("scheduled_procedure_steps") == "many":
        step = order_payload()["scheduled_procedure_steps"][0]
        overrides = {"scheduled_procedure_steps": [dict(step)] * 1000}
    response = post_order(api, **overrides)
    assert response.status_code == 400
    assert field in response.json()
