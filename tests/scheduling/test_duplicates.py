"""Possible duplicate patients at registration: same birth date and a similar name
(accents, case, order of the name parts ignored) or the same ID under another issuer."""

from datetime import date

import pytest
from django.urls import reverse

from tests import factories
from worklist import names, selectors
from worklist.models import Patient

pytestmark = pytest.mark.django_db

BORN = date(1978, 3, 4)


@pytest.mark.parametrize(
    ("stored", "typed"),
    [
        ("Dvořák^Antonín", "DVORAK^ANTONIN"),
        ("Dvořák^Antonín", "Antonín^Dvořák"),
        ("Müller^Anna Maria", "Muller^Anna"),
        ("García-López^José", "Garcia Lopez^Jose"),
    ],
)
def test_similar_names(stored, typed):
    assert names.similar(stored, typed)


@pytest.mark.parametrize(("stored", "typed"), [("Müller^Anna", "Müller^Hans"), ("Smith^", "")])
def test_different_names(stored, typed):
    assert not names.similar(stored, typed)


def test_same_birth_date_similar_name_or_same_id_elsewhere():
    swapped = factories.patient("H1", patient_name="Vivaldi^Antonio", patient_birth_date=BORN)
    factories.patient("H2", patient_name="Vivaldi^Antonio", patient_birth_date=date(1978, 3, 5))
    other_issuer = factories.patient("X9", issuer_of_patient_id="CLINIC", patient_name="Bach^J")
    found = selectors.possible_duplicates(
        patient_id="X9",
        issuer_of_patient_id="HOSP",
        patient_name="ANTONIO^Vivaldi",
        patient_birth_date=BORN,
    )
    assert {p.pk for p in found} == {swapped.pk, other_issuer.pk}


def registration(**fields):
    return {
        "patient_id": "NEW1",
        "issuer_of_patient_id": "HOSP",
        "family_name": "Vivaldi",
        "given_name": "Antonio",
        "patient_birth_date": BORN.isoformat(),
        "patient_sex": "M",
        **fields,
    }


def test_registration_shows_duplicates_before_saving(scheduler_client):
    known = factories.patient("H1", patient_name="Vivaldí^Antonio", patient_birth_date=BORN)
    response = scheduler_client.post(reverse("ui:patient_new"), registration())
    assert response.status_code == 200
    page = response.content.decode()
    assert "Possible duplicates" in page
    assert reverse("ui:patient", args=[known.pk]) in page
    assert not Patient.objects.filter(patient_id="NEW1").exists()

    response = scheduler_client.post(reverse("ui:patient_new"), registration(register_anyway="on"))
    assert response.status_code == 302
    assert Patient.objects.filter(patient_id="NEW1").exists()


def test_no_duplicate_registers_at_once(scheduler_client):
    factories.patient("H1", patient_name="Vivaldi^Antonio", patient_birth_date=date(1990, 1, 1))
    response = scheduler_client.post(reverse("ui:patient_new"), registration())
    assert response.status_code == 302


# --- the REST API: GET /api/patients/duplicates/ -------------------------------------


def test_api_lists_the_possible_duplicates_before_registering(api):
    swapped = factories.patient("H1", patient_name="Vivaldi^Antonio", patient_birth_date=BORN)
    factories.patient("H2", patient_name="Vivaldi^Antonio", patient_birth_date=date(1978, 3, 5))
    other_issuer = factories.patient("X9", issuer_of_patient_id="CLINIC", patient_name="Bach^J")

    response = api.get(
        "/api/patients/duplicates/",
        {
            "patient_id": "X9",
            "issuer_of_patient_id": "HOSP",
            "patient_name": "ANTONIO^Vivaldí",
            "patient_birth_date": BORN.isoformat(),
        },
    )

    assert response.status_code == 200
    found = {p["id"]: p for p in response.json()}
    assert set(found) == {swapped.pk, other_issuer.pk}
    assert found[swapped.pk]["patient_id"] == "H1"  # the patient as /api/patients/{id}/
    nobody = api.get("/api/patients/duplicates/", {"patient_id": "NEW1"})
    assert nobody.status_code == 200 and nobody.json() == []


def test_api_duplicates_needs_an_id_or_a_name_and_birth_date(api):
    assert api.get("/api/patients/duplicates/", {"patient_name": "Bach^J"}).status_code == 400
    bad_date = api.get(
        "/api/patients/duplicates/", {"patient_name": "Bach^J", "patient_birth_date": "1.2.78"}
    )
    assert bad_date.status_code == 400
    assert "patient_birth_date" in bad_date.json()


def test_api_duplicates_is_in_the_schema(api):
    schema = api.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/patients/duplicates/"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {
        "patient_id",
        "issuer_of_patient_id",
        "patient_name",
        "patient_birth_date",
    }
