"""POST /api/orders/: the contract's booking request, as an integration sends it."""

from datetime import UTC, datetime, timedelta

import pytest

from worklist.models import Order, Patient, ScheduledProcedureStep

from .factories import order_payload, payload_time, post_order

pytestmark = pytest.mark.django_db


def test_contract_example_books_the_exam(api, station):
    response = post_order(api, order_payload())

    assert response.status_code == 201, response.json()
    order = response.json()
    assert order["status"] == "SCHEDULED"
    assert order["accession_number"] == "A0001"
    assert order["patient"]["patient_name"] == "Vivaldi^Antonio"
    assert order["study_instance_uid"].count(".") > 3
    assert order["requested_procedure_code_sequence"][0]["code_value"] == "CTHEAD"
    [step] = order["scheduled_procedure_steps"]
    assert step["scheduled_procedure_step_id"] == "SPS0001"
    assert step["scheduled_station_ae_title"] == "CT1"
    assert step["scheduled_procedure_step_status"] == "SCHEDULED"
    nine = datetime.fromisoformat(payload_time(9)).astimezone(UTC)  # answered in UTC
    assert step["scheduled_procedure_step_start_datetime"] == f"{nine:%Y-%m-%dT%H:%M:%S}Z"
    end = nine + timedelta(minutes=15)
    assert step["scheduled_procedure_step_end_datetime"] == f"{end:%Y-%m-%dT%H:%M:%S}Z"


def test_identifiers_are_generated_when_absent(api, station, settings):
    settings.RIS_UID_ROOT = "1.2.826.0.1.3680043.10.1234"
    payload = order_payload(step={"scheduled_procedure_step_id": ""})
    for key in ("accession_number", "requested_procedure_id"):
        del payload[key]

    order = post_order(api, payload).json()

    assert order["accession_number"]
    assert len(order["accession_number"]) <= 16
    assert order["requested_procedure_id"].startswith("RP")
    assert order["scheduled_procedure_steps"][0]["scheduled_procedure_step_id"].startswith("SPS")
    assert order["study_instance_uid"].startswith("1.2.826.0.1.3680043.10.1234.")
    assert len(order["study_instance_uid"]) <= 64


def test_generated_accession_numbers_are_distinct(api, station):
    numbers = set()
    for hour in range(9, 12):
        payload = order_payload(
            step={
                "scheduled_procedure_step_id": "",
                "scheduled_procedure_step_start_datetime": payload_time(hour),
            }
        )
        payload.pop("accession_number")
        payload.pop("requested_procedure_id")
        numbers.add(post_order(api, payload).json()["accession_number"])
    assert len(numbers) == 3


def test_known_patient_is_reused(api, station):
    post_order(api, order_payload())
    second = order_payload(
        accession_number="A0002",
        requested_procedure_id="RP0002",
        step={
            "scheduled_procedure_step_id": "SPS0002",
            "scheduled_procedure_step_start_datetime": payload_time(10),
        },
    )
    response = post_order(api, second)

    assert response.status_code == 201
    assert Patient.objects.count() == 1
    assert Patient.objects.get().orders.count() == 2


def test_known_patient_with_different_birth_date_is_a_conflict(api, station):
    post_order(api, order_payload())
    second = order_payload(
        accession_number="A0002",
        patient={"patient_birth_date": "1978-03-05"},
        step={
            "scheduled_procedure_step_id": "SPS0002",
            "scheduled_procedure_step_start_datetime": payload_time(10),
        },
    )
    response = post_order(api, second)

    assert response.status_code == 409
    body = response.json()
    assert "patient_birth_date" in body["patient"]["differing_fields"]
    assert Patient.objects.get().patient_birth_date.isoformat() == "1978-03-04"
    assert Order.objects.count() == 1


def test_same_patient_id_from_another_issuer_is_another_patient(api, station):
    post_order(api, order_payload())
    second = order_payload(
        accession_number="A0002",
        patient={"issuer_of_patient_id": "OTHER", "patient_name": "Bach^Johann"},
        step={
            "scheduled_procedure_step_id": "SPS0002",
            "scheduled_procedure_step_start_datetime": payload_time(10),
        },
    )
    assert post_order(api, second).status_code == 201
    assert Patient.objects.count() == 2


def test_overlapping_booking_is_refused_naming_the_conflicting_step(api, station):
    post_order(api, order_payload())
    clash = order_payload(
        accession_number="A0002",
        requested_procedure_id="RP0002",
        step={
            "scheduled_procedure_step_id": "SPS0002",
            "scheduled_procedure_step_start_datetime": payload_time(9, 10),
        },
    )
    response = post_order(api, clash)

    assert response.status_code == 409
    assert response.json()["conflicting_step"]["scheduled_procedure_step_id"] == "SPS0001"
    assert response.json()["conflicting_step"]["accession_number"] == "A0001"
    assert Order.objects.count() == 1


def test_booking_right_after_another_is_accepted(api, station):
    post_order(api, order_payload())
    adjacent = order_payload(
        accession_number="A0002",
        requested_procedure_id="RP0002",
        step={
            "scheduled_procedure_step_id": "SPS0002",
            "scheduled_procedure_step_start_datetime": payload_time(9, 15),
        },
    )
    assert post_order(api, adjacent).status_code == 201


def test_a_refused_second_step_leaves_nothing_behind(api, station):
    first = order_payload()["scheduled_procedure_steps"][0]
    second = {
        **first,
        "scheduled_procedure_step_id": "SPS0002",
        "scheduled_procedure_step_start_datetime": payload_time(9, 5),
    }
    payload = order_payload(scheduled_procedure_steps=[first, second])

    response = post_order(api, payload)

    assert response.status_code == 409
    assert Order.objects.count() == 0
    assert Patient.objects.count() == 0
    assert ScheduledProcedureStep.objects.count() == 0


def test_duplicate_accession_number_is_a_conflict(api, station):
    post_order(api, order_payload())
    again = order_payload(
        step={
            "scheduled_procedure_step_id": "SPS0002",
            "scheduled_procedure_step_start_datetime": payload_time(11),
        },
    )
    response = post_order(api, again)
    assert response.status_code == 409
    assert response.json()["accession_number"] == "A0001"


def test_catalogue_fills_modality_and_duration(api, station):
    from worklist.models import Procedure

    Procedure.objects.create(
        code_value="CTHEAD",
        coding_scheme_designator="LOCAL",
        code_meaning="CT head",
        modality="CT",
        duration_minutes=25,
    )
    payload = order_payload()
    step = payload["scheduled_procedure_steps"][0]
    del step["modality"], step["scheduled_procedure_step_duration_minutes"]

    order = post_order(api, payload).json()

    assert order["scheduled_procedure_steps"][0]["modality"] == "CT"
    assert order["scheduled_procedure_steps"][0]["scheduled_procedure_step_duration_minutes"] == 25


def test_codes_sent_by_an_integration_are_kept_as_sent(api, station):
    from worklist.models import Procedure

    Procedure.objects.create(
        code_value="CTHEAD",
        coding_scheme_designator="LOCAL",
        code_meaning="CT of the head (catalogue)",
        modality="CT",
    )
    order = post_order(api, order_payload()).json()
    assert order["requested_procedure_code_sequence"] == [
        {"code_value": "CTHEAD", "coding_scheme_designator": "LOCAL", "code_meaning": "CT head"}
    ]
