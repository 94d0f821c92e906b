"""Finding a patient by name (wildcards, accents and case ignored), ID or birth date."""

from datetime import date

import pytest
from django.urls import reverse

from worklist.services.patients import patient_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(db):
    for pid, name, born in (
        ("P1", "Müller^Anna", date(1970, 5, 17)),
        ("P2", "Mueller^Hans", date(1980, 1, 2)),
        ("P3", "Vivaldi^Antonio", date(1978, 3, 4)),
        ("P4", "Dvořák^Antonín", date(1978, 3, 4)),
        ("X-77", "Smith^John", date(1990, 7, 7)),
    ):
        patient_create(patient_id=pid, patient_name=name, patient_birth_date=born, patient_sex="O")


def found(client, **query):
    response = client.post(reverse("ui:patients"), query)
    assert response.status_code == 200
    return [p.patient_id for p in response.context["result"].patients]


def test_name_matches_without_accents_or_case(scheduler_client, people):
    assert found(scheduler_client, q="muller") == ["P1"]
    assert found(scheduler_client, q="DVORAK") == ["P4"]
    assert found(scheduler_client, q="antonín") == ["P4"]


def test_every_word_typed_must_match(scheduler_client, people):
    assert found(scheduler_client, q="anton vivaldi") == ["P3"]
    assert found(scheduler_client, q="vivaldi, antonio") == ["P3"]


def test_wildcard_name_query_matches_case_insensitively(scheduler_client, people):
    assert found(scheduler_client, q="mu*") == ["P2", "P1"]
    assert found(scheduler_client, q="m?ller*") == ["P1"]
    assert found(scheduler_client, q="*ton*") == ["P4", "P3"]
    assert found(scheduler_client, q="viv") == ["P3"]
    assert found(scheduler_client, q="viv?") == []


def test_patient_id_matches_exactly(scheduler_client, people):
    assert found(scheduler_client, q="x-77") == ["X-77"]


def test_birth_date_alone_or_with_a_name(scheduler_client, people):
    assert found(scheduler_client, birth_date="1978-03-04") == ["P4", "P3"]
    assert found(scheduler_client, q="viv*", birth_date="1978-03-04") == ["P3"]


def test_nothing_is_listed_without_a_criterion(scheduler_client, people):
    assert scheduler_client.get(reverse("ui:patients")).context["result"] is None
    assert scheduler_client.post(reverse("ui:patients"), {"q": " "}).context["result"] == (
        [],
        False,
    )


def test_search_is_posted_so_names_stay_out_of_urls(scheduler_client, people):
    page = scheduler_client.get(reverse("ui:patients")).content.decode()
    assert 'method="post"' in page and "hx-push-url" not in page


def test_search_as_you_type_answers_the_results_fragment(scheduler_client, people):
    response = scheduler_client.post(
        reverse("ui:patients"), {"q": "muller"}, HTTP_HX_REQUEST="true"
    )
    page = response.content.decode()
    assert "Müller, Anna" in page
    assert "<html" not in page


def test_an_invalid_birth_date_is_shown_next_to_its_field(scheduler_client, people):
    response = scheduler_client.post(reverse("ui:patients"), {"birth_date": "31.02.1970"})
    assert "Enter a valid date." in response.content.decode()
    assert response.context["form"]["birth_date"].value() == "31.02.1970"


def test_a_link_with_a_query_still_searches(scheduler_client, people):
    response = scheduler_client.get(reverse("ui:patients"), {"q": "muller"})
    assert [p.patient_id for p in response.context["result"].patients] == ["P1"]


def test_an_accent_typed_is_meant(scheduler_client, people):
    patient_create(patient_id="P5", patient_name="Murphy^Anne", patient_birth_date=date(1960, 1, 1))
    assert found(scheduler_client, q="mu*") == ["P2", "P1", "P5"]
    assert found(scheduler_client, q="mü*") == ["P1"]
    assert found(scheduler_client, q="müller anna") == ["P1"]
    assert found(scheduler_client, q="MÜ?LER*") == ["P1"]
    assert found(scheduler_client, q="dvořak") == ["P4"]
    assert found(scheduler_client, q="dvorák") == ["P4"]
    assert found(scheduler_client, q="dvóřák") == []
