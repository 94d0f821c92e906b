"""Registering a new patient: validation next to each field, nothing typed is lost."""

from datetime import date, timedelta

import pytest
from django.urls import reverse

from worklist.models import Patient

pytestmark = pytest.mark.django_db

VALID = {
    "patient_id": "N0001",
    "issuer_of_patient_id": "HOSP",
    "family_name": "Vivaldi",
    "given_name": "Antonio",
    "patient_birth_date": "1978-03-04",
    "patient_sex": "M",
    "allergies": "Iodinated contrast",
}


def register(client, **changes):
    return client.post(reverse("ui:patient_new"), {**VALID, **changes})


def test_registered_patient_is_stored_with_a_dicom_person_name(scheduler_client):
    response = register(scheduler_client)
    patient = Patient.objects.get(patient_id="N0001")
    assert response["Location"] == reverse("ui:patient", args=[patient.pk])
    assert patient.patient_name == "Vivaldi^Antonio"
    assert patient.patient_birth_date == date(1978, 3, 4)
    assert patient.allergies == "Iodinated contrast"


def test_name_parts_make_the_person_name_components(scheduler_client):
    register(scheduler_client, middle_name="Lucio", name_prefix="Dr")
    assert Patient.objects.get().patient_name == "Vivaldi^Antonio^Lucio^Dr"


def errors_of(response):
    return response.context["form"].errors


def test_missing_fields_are_named(scheduler_client):
    response = register(scheduler_client, family_name="", patient_id="", patient_birth_date="")
    assert response.status_code == 200
    assert set(errors_of(response)) == {"family_name", "patient_id", "patient_birth_date"}
    assert not Patient.objects.exists()


def test_errors_are_shown_next_to_their_field_and_input_is_kept(scheduler_client):
    future = (date.today() + timedelta(days=3)).isoformat()
    response = register(scheduler_client, patient_birth_date=future, given_name="Anto^nio")
    page = response.content.decode()
    assert 'id="id_patient_birth_date_error"' in page
    assert "Must not be in the future." in page
    assert "Must not contain ^" in page
    assert 'value="Vivaldi"' in page
    assert 'value="Iodinated contrast"' in page


def test_a_taken_patient_id_is_refused_on_the_id_field(scheduler_client):
    register(scheduler_client)
    response = register(scheduler_client, family_name="Other")
    assert "already exists" in errors_of(response)["patient_id"][0]
    assert Patient.objects.count() == 1


def test_too_long_values_are_refused_by_their_dicom_rule(scheduler_client):
    response = register(scheduler_client, patient_id="X" * 65)
    assert "patient_id" in errors_of(response)
