"""Stations, patients, procedure steps and order changes over the REST API."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from worklist.models import Order

from .factories import api_booked, future_day, order_payload, payload_time

pytestmark = pytest.mark.django_db


def test_station_created_with_opening_hours(api):
    response = api.post(
        "/api/stations/",
        {
            "scheduled_station_ae_title": "MR1",
            "scheduled_station_name": "MR Room 1",
            "modality": "MR",
            "scheduled_procedure_step_location": "Radiology A",
            "opening_hours": [{"weekday": 0, "opens": "08:00", "closes": "18:00"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["opening_hours"] == [
        {"weekday": 0, "opens": "08:00:00", "closes": "18:00:00"}
    ]


def test_station_ae_title_is_unique(api, station):
    response = api.post(
        "/api/stations/", {"scheduled_station_ae_title": "CT1", "modality": "CT"}, format="json"
    )
    assert response.status_code == 400
    assert "scheduled_station_ae_title" in response.json()


def test_station_ae_title_longer_than_16_is_refused(api):
    response = api.post(
        "/api/stations/", {"scheduled_station_ae_title": "A" * 17, "modality": "CT"}, format="json"
    )
    assert response.status_code == 400
    assert "scheduled_station_ae_title" in response.json()


def test_station_patch_replaces_opening_hours(api, station):
    response = api.patch(
        f"/api/stations/{station.pk}/",
        {
            "opening_hours": [{"weekday": 1, "opens": "07:00", "closes": "00:00"}],
        },
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["opening_hours"] == [
        {"weekday": 1, "opens": "07:00:00", "closes": "00:00:00"}
    ]


def test_patient_registered_and_found_by_name_ignoring_case_and_accents(api):
    created = api.post(
        "/api/patients/",
        {"patient_id": "P9", "patient_name": "Müller^Jürgen", "patient_birth_date": "1960-01-31"},
        format="json",
    )
    assert created.status_code == 201, created.json()

    found = api.get("/api/patients/", {"patient_name": "muller"}).json()
    assert [p["patient_id"] for p in found["results"]] == ["P9"]
    assert api.get("/api/patients/", {"patient_name": "schmidt"}).json()["count"] == 0


def test_patient_with_taken_id_and_issuer_is_refused_naming_patient_id(api):
    api.post("/api/patients/", {"patient_id": "P9", "patient_name": "A^B"}, format="json")
    response = api.post(
        "/api/patients/", {"patient_id": "P9", "patient_name": "C^D"}, format="json"
    )
    assert response.status_code == 400
    assert "patient_id" in response.json()


def test_patient_patch_corrects_demographics(api):
    patient = api.post(
        "/api/patients/", {"patient_id": "P9", "patient_name": "A^B"}, format="json"
    ).json()
    response = api.patch(f"/api/patients/{patient['id']}/", {"patient_sex": "F"}, format="json")
    assert response.status_code == 200
    assert response.json()["patient_sex"] == "F"


def test_orders_filtered_by_accession_status_and_patient(api, station):
    api_booked(api)
    assert api.get("/api/orders/", {"accession_number": "A0001"}).json()["count"] == 1
    assert api.get("/api/orders/", {"status": "CANCELLED"}).json()["count"] == 0
    assert api.get("/api/orders/", {"patient_id": "AV35674"}).json()["count"] == 1
    assert api.get("/api/orders/", {"status": "BOGUS"}).status_code == 400


def test_order_cancel_discontinues_its_steps(api, station):
    order = api_booked(api)
    response = api.post(
        f"/api/orders/{order['id']}/cancel/", {"reason": "Duplicate order"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "CANCELLED"
    assert body["cancel_reason"] == "Duplicate order"
    assert body["scheduled_procedure_steps"][0]["scheduled_procedure_step_status"] == "DISCONTINUED"
    assert api.get("/api/procedure-steps/", {"status": "SCHEDULED"}).json()["count"] == 0


def test_discontinuing_the_only_step_cancels_the_order_as_the_ui_does(api, station):
    order = api_booked(api)
    step = order["scheduled_procedure_steps"][0]
    response = api.patch(
        f"/api/procedure-steps/{step['id']}/",
        {"scheduled_procedure_step_status": "DISCONTINUED"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["scheduled_procedure_step_status"] == "DISCONTINUED"
    assert api.get(f"/api/orders/{order['id']}/").json()["status"] == "CANCELLED"


def test_order_patch_changes_reason_but_not_accession(api, station):
    order = api_booked(api)
    changed = api.patch(
        f"/api/orders/{order['id']}/",
        {"reason_for_the_requested_procedure": "Trauma"},
        format="json",
    )
    assert changed.status_code == 200
    assert changed.json()["reason_for_the_requested_procedure"] == "Trauma"

    refused = api.patch(f"/api/orders/{order['id']}/", {"accession_number": "X"}, format="json")
    assert refused.status_code == 400
    assert "accession_number" in refused.json()


def test_procedure_steps_listed_for_a_local_day_and_station(api, station, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    day = future_day()
    api_booked(api, step={"scheduled_procedure_step_start_datetime": payload_time(0, 30, day)})
    # 00:30 in Berlin is still 24 November in UTC: the day is the local one.
    listed = api.get(
        "/api/procedure-steps/", {"date": day.isoformat(), "scheduled_station_ae_title": "CT1"}
    ).json()
    assert [s["accession_number"] for s in listed["results"]] == ["A0001"]
    assert listed["results"][0]["patient_name"] == "Vivaldi^Antonio"
    assert listed["results"][0]["scheduled_procedure_step_start_datetime"] == (
        payload_time(0, 30, day)
    )
    day_before = (day - timedelta(days=1)).isoformat()
    assert api.get("/api/procedure-steps/", {"date": day_before}).json()["count"] == 0
    assert api.get("/api/procedure-steps/", {"modality": "MR"}).json()["count"] == 0


def test_procedure_step_patch_reschedules(api, station):
    step_id = api_booked(api)["scheduled_procedure_steps"][0]["id"]
    response = api.patch(
        f"/api/procedure-steps/{step_id}/",
        {
            "scheduled_procedure_step_start_datetime": payload_time(14),
        },
        format="json",
    )
    assert response.status_code == 200
    two = datetime.fromisoformat(payload_time(14)).astimezone(UTC)  # answered in UTC
    assert response.json()["scheduled_procedure_step_start_datetime"] == (
        f"{two:%Y-%m-%dT%H:%M:%S}Z"
    )


def test_procedure_step_patch_into_the_past_is_refused_naming_the_field(api, station):
    step_id = api_booked(api)["scheduled_procedure_steps"][0]["id"]
    yesterday = payload_time(9, day=future_day(-1))
    response = api.patch(
        f"/api/procedure-steps/{step_id}/",
        {"scheduled_procedure_step_start_datetime": yesterday},
        format="json",
    )
    assert response.status_code == 400
    assert "past" in response.json()["scheduled_procedure_step_start_datetime"][0]


def test_procedure_step_patch_onto_a_booked_slot_is_409(api, station):
    api_booked(api)
    other = api_booked(
        api,
        accession_number="A0002",
        requested_procedure_id="RP2",
        step={
            "scheduled_procedure_step_id": "SPS2",
            "scheduled_procedure_step_start_datetime": payload_time(10),
        },
    )
    response = api.patch(
        f"/api/procedure-steps/{other['scheduled_procedure_steps'][0]['id']}/",
        {
            "scheduled_procedure_step_start_datetime": payload_time(9, 5),
        },
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["conflicting_step"]["scheduled_procedure_step_id"] == "SPS0001"


def test_lists_are_paginated(api, station):
    for hour in range(8):
        api_booked(
            api,
            accession_number=f"A{hour}",
            requested_procedure_id=f"RP{hour}",
            step={
                "scheduled_procedure_step_id": f"S{hour}",
                "scheduled_procedure_step_start_datetime": payload_time(10 + hour),
            },
        )
    page = api.get("/api/procedure-steps/", {"page_size": 5}).json()
    assert page["count"] == 8
    assert len(page["results"]) == 5
    assert page["next"]


def test_request_without_token_is_401(client, station):
    response = client.get("/api/orders/")
    assert response.status_code == 401


def test_wrong_token_is_401(station):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get("/api/orders/").status_code == 401


def test_user_who_may_only_view_cannot_book(django_user_model, station):
    viewer = django_user_model.objects.create_user("tech", password="pw-tech-1")
    viewer.user_permissions.add(Permission.objects.get(codename="view_order"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=viewer).key}")

    assert client.get("/api/orders/").status_code == 200
    assert client.post("/api/orders/", order_payload(), format="json").status_code == 403
    assert Order.objects.count() == 0


def test_user_without_permissions_cannot_list_patients(django_user_model):
    nobody = django_user_model.objects.create_user("nobody", password="pw-nobody-1")
    client = APIClient()
    client.force_authenticate(nobody)
    assert client.get("/api/patients/").status_code == 403


def test_openapi_schema_and_docs_are_served(api, admin_user):
    schema = api.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "/api/orders/",
        "/api/orders/{id}/cancel/",
        "/api/stations/",
        "/api/patients/",
        "/api/procedure-steps/",
    ):
        assert path in paths
    api.force_login(admin_user)  # the docs page is for users signed in to the site
    assert api.get("/api/docs/").status_code == 200


def test_api_bookings_record_who_did_them_in_the_order_history(api, station, admin_user):
    order = api_booked(api)
    api.post(f"/api/orders/{order['id']}/cancel/", {"reason": "Duplicate"}, format="json")

    history = Order.objects.get(pk=order["id"]).events.order_by("at", "pk")
    assert [event.user for event in history] == [admin_user] * history.count()
    assert history.count() >= 2


@pytest.mark.parametrize(
    "hours, field",
    [
        ([{"weekday": 0, "opens": "18:00", "closes": "08:00"}], "closes"),
        (
            [
                {"weekday": 0, "opens": "08:00", "closes": "12:00"},
                {"weekday": 0, "opens": "10:00", "closes": "14:00"},
            ],
            "opens",
        ),
    ],
)
def test_station_opening_hours_are_checked_by_the_model_rule(api, hours, field):
    response = api.post(
        "/api/stations/",
        {"scheduled_station_ae_title": "MR9", "modality": "MR", "opening_hours": hours},
        format="json",
    )
    assert response.status_code == 400
    assert field in response.json()["opening_hours"][str(len(hours) - 1)]


def test_thousands_of_opening_hours_are_a_400(api):
    hours = [{"weekday": 0, "opens": "08:00", "closes": "09:00"}] * 3000
    response = api.post(
        "/api/stations/",
        {"scheduled_station_ae_title": "MR9", "modality": "MR", "opening_hours": hours},
        format="json",
    )
    assert response.status_code == 400
    assert "opening_hours" in response.json()


def test_the_api_offers_the_fields_the_services_change_declared_once():
    from worklist.api import serializers
    from worklist.services import booking

    assert set(serializers.OrderDetailsSerializer().fields) == {
        *booking.ORDER_EDITABLE,
        *booking.PROCEDURE_EDITABLE,
    }
    slot = {
        "scheduled_station_ae_title",
        "scheduled_procedure_step_start_datetime",
        "scheduled_procedure_step_duration_minutes",
        "scheduled_procedure_step_status",
    }
    # the explicit confirmations of services.safety
    overrides = {"allow_patient_overlap", "acknowledged_alerts"}
    assert set(serializers.OrderUpdateSerializer().fields) == {
        *booking.ORDER_EDITABLE,
        *booking.PROCEDURE_EDITABLE,
        "acknowledged_alerts",
    }
    assert set(serializers.StepUpdateSerializer().fields) == (
        slot | set(booking.STEP_DESCRIPTIVE) | overrides
    )
    booking_fields = set(serializers.StepBookingSerializer().fields)
    assert set(booking.STEP_BOOKING_DETAILS) <= booking_fields


def test_an_order_patch_checks_the_model_vr_of_each_descriptive_field(api, station):
    order = api_booked(api)
    response = api.patch(
        f"/api/orders/{order['id']}/",
        {"requesting_service": "x" * 65, "referring_physician_name": "A^B^C^D^E^F"},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"requesting_service", "referring_physician_name"}


def test_the_patient_name_filter_follows_the_search_rule_of_the_ui(api):
    """One matching rule: words in any order, accents one way, wild cards."""
    for pid, name in (("P1", "Müller^Anna"), ("P2", "Murphy^Anne"), ("P3", "Muller^Bob")):
        assert (
            api.post(
                "/api/patients/", {"patient_id": pid, "patient_name": name}, format="json"
            ).status_code
            == 201
        )

    def found(text):
        results = api.get("/api/patients/", {"patient_name": text}).json()["results"]
        return sorted(p["patient_id"] for p in results)

    assert found("anna muller") == ["P1"]
    assert found("Mü") == ["P1"]
    assert found("mu") == ["P1", "P2", "P3"]
    assert found("Mu*^A*") == ["P1", "P2"]
