"""Bad booking requests get a 400 that names the field, and nothing is written."""

from datetime import timedelta

import pytest

from worklist.models import Order, Patient

from .factories import order_payload, payload_time, today

pytestmark = pytest.mark.django_db


def refused(api, payload):
    response = api.post("/api/orders/", payload, format="json")
    assert response.status_code == 400, response.json()
    assert Order.objects.count() == 0
    assert Patient.objects.count() == 0
    return response.json()


def test_wrong_date_format_names_the_birth_date(api, station):
    errors = refused(api, order_payload(patient={"patient_birth_date": "04.03.1978"}))
    assert "patient_birth_date" in errors["patient"]


def test_dicom_da_format_is_not_an_iso_date(api, station):
    errors = refused(api, order_payload(patient={"patient_birth_date": "19780304"}))
    assert "patient_birth_date" in errors["patient"]


def test_start_without_utc_offset_is_refused(api, station):
    errors = refused(
        api, order_payload(step={"scheduled_procedure_step_start_datetime": "2030-11-25T09:00:00"})
    )
    step_errors = errors["scheduled_procedure_steps"]["0"]
    assert "offset" in step_errors["scheduled_procedure_step_start_datetime"][0]


def test_a_start_in_the_past_is_refused_naming_the_field(api, station):
    yesterday = payload_time(9, day=today() - timedelta(days=1))
    errors = refused(
        api, order_payload(step={"scheduled_procedure_step_start_datetime": yesterday})
    )
    [message] = errors["scheduled_procedure_steps"]["0"]["scheduled_procedure_step_start_datetime"]
    assert "past" in message


def test_person_name_group_longer_than_64_is_refused(api, station):
    errors = refused(api, order_payload(patient={"patient_name": "A" * 60 + "^" + "B" * 10}))
    assert "64" in errors["patient"]["patient_name"][0]


def test_person_name_with_three_groups_is_accepted(api, station):
    name = "Yamada^Tarou=山田^太郎=やまだ^たろう"
    response = api.post(
        "/api/orders/", order_payload(patient={"patient_name": name}), format="json"
    )
    assert response.status_code == 201
    assert response.json()["patient"]["patient_name"] == name


def test_accession_number_longer_than_sh_is_refused(api, station):
    errors = refused(api, order_payload(accession_number="A" * 17))
    assert "16" in errors["accession_number"][0]


def test_lo_longer_than_64_is_refused(api, station):
    errors = refused(api, order_payload(reason_for_the_requested_procedure="x" * 65))
    assert "reason_for_the_requested_procedure" in errors


def test_lower_case_modality_is_refused(api, station):
    errors = refused(api, order_payload(step={"modality": "ct"}))
    assert "modality" in errors["scheduled_procedure_steps"]["0"]


def test_backslash_in_a_short_string_is_refused(api, station):
    errors = refused(api, order_payload(requested_procedure_id="RP\\1"))
    assert "backslash" in errors["requested_procedure_id"][0]


def test_control_character_in_a_name_is_refused(api, station):
    errors = refused(api, order_payload(referring_physician_name="Smith\x07^John"))
    assert "referring_physician_name" in errors


def test_unknown_priority_is_refused(api, station):
    errors = refused(api, order_payload(requested_procedure_priority="URGENT"))
    assert "requested_procedure_priority" in errors


def test_unknown_sex_is_refused(api, station):
    errors = refused(api, order_payload(patient={"patient_sex": "X"}))
    assert "patient_sex" in errors["patient"]


def test_unknown_station_is_refused(api, station):
    errors = refused(api, order_payload(step={"scheduled_station_ae_title": "MR9"}))
    assert "MR9" in errors["scheduled_procedure_steps"]["0"]["scheduled_station_ae_title"][0]


def test_invalid_study_uid_is_refused(api, station):
    errors = refused(api, order_payload(study_instance_uid="1.2.03.4"))
    assert "study_instance_uid" in errors


def test_unknown_field_is_refused_not_dropped(api, station):
    errors = refused(api, order_payload(patient={"patient_birthdate": "1978-03-04"}))
    assert "patient_birthdate" in errors["patient"]


def test_code_item_without_meaning_is_refused(api, station):
    errors = refused(
        api,
        order_payload(
            requested_procedure_code_sequence=[
                {"code_value": "CTHEAD", "coding_scheme_designator": "LOCAL"}
            ]
        ),
    )
    assert "code_meaning" in errors["requested_procedure_code_sequence"]["0"]


def test_order_without_steps_is_refused(api, station):
    errors = refused(api, order_payload(scheduled_procedure_steps=[]))
    assert "scheduled_procedure_steps" in errors


def test_new_patient_without_name_is_refused(api, station):
    errors = refused(api, order_payload(patient={"patient_name": ""}))
    assert "patient_name" in errors["patient"]


def test_duration_of_zero_is_refused(api, station):
    errors = refused(api, order_payload(step={"scheduled_procedure_step_duration_minutes": 0}))
    assert "scheduled_procedure_step_duration_minutes" in errors["scheduled_procedure_steps"]["0"]
