"""Demographics edited on the patient's page and over the API: audited, and an edit
made meanwhile by someone else is a conflict (409), never overwritten."""

from datetime import date

import pytest
from django.urls import reverse

from audit.models import Event
from ris.errors import Conflict
from tests import factories
from worklist.models import Patient
from worklist.services.patients import patient_edit

pytestmark = pytest.mark.django_db


@pytest.fixture
def anna(db):
    return factories.patient("P1", patient_name="Müller^Anna")


def test_edit_with_the_revision_read(anna):
    edited = patient_edit(patient=anna, revision=anna.updated_at, allergies="Latex")
    assert edited.allergies == "Latex"
    assert Event.objects.filter(action="110110", event_action_code="U").exists()


def test_edit_of_a_stale_revision_is_a_conflict(anna):
    read_at = anna.updated_at
    patient_edit(patient=anna, revision=read_at, allergies="Latex")
    with pytest.raises(Conflict) as refused:
        patient_edit(patient=anna, revision=read_at, allergies="Penicillin")
    assert "changed by someone else" in refused.value.message
    assert Patient.objects.get().allergies == "Latex"


def test_api_patch_with_stale_revision_is_409(api, anna):
    read = api.get(f"/api/patients/{anna.pk}/").json()
    ok = api.patch(
        f"/api/patients/{anna.pk}/",
        {"special_needs": "Wheelchair", "revision": read["updated_at"]},
        format="json",
    )
    assert ok.status_code == 200
    stale = api.patch(
        f"/api/patients/{anna.pk}/",
        {"special_needs": "Interpreter", "revision": read["updated_at"]},
        format="json",
    )
    assert stale.status_code == 409
    assert stale.json()["revision"]
    assert Patient.objects.get().special_needs == "Wheelchair"


def form_of(client, patient):
    page = client.get(reverse("ui:patient_edit", args=[patient.pk]))
    assert page.status_code == 200
    form = page.context["form"]
    return {name: form[name].value() or "" for name in form.fields}


def test_page_edit_and_conflict(scheduler_client, anna):
    data = form_of(scheduler_client, anna)
    assert data["family_name"] == "Müller" and data["given_name"] == "Anna"
    response = scheduler_client.post(
        reverse("ui:patient_edit", args=[anna.pk]),
        {**data, "given_name": "Anne", "patient_birth_date": "1970-05-17"},
    )
    assert response.status_code == 302
    assert Patient.objects.get().patient_name == "Müller^Anne"
    stale = scheduler_client.post(
        reverse("ui:patient_edit", args=[anna.pk]),
        {**data, "given_name": "Annie", "patient_birth_date": "1970-05-17"},
    )
    assert stale.status_code == 409
    assert "changed by someone else" in stale.content.decode()
    assert Patient.objects.get().patient_name == "Müller^Anne"
    assert Patient.objects.get().patient_birth_date == date(1970, 5, 17)


def test_technologist_may_not_edit(technologist_client, anna):
    assert technologist_client.get(reverse("ui:patient_edit", args=[anna.pk])).status_code == 403
