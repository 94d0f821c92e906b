"""/api/studies/: arrived studies and their reconciliation, filtered; POST {id}/link/
and {id}/resolve/ call the same services as the exceptions page (audited, 409 when
someone acted first); model permissions as for the other resources."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from audit.models import Event
from worklist.models import Study

from .conftest import arrive, book, decide

pytestmark = pytest.mark.django_db

STUDIES = "/api/studies/"


@pytest.fixture
def token_of(make_user, study_roles):
    def make(role: str) -> APIClient:
        user = make_user(f"api-{role.replace(' ', '-')}", role)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        return client

    return make


@pytest.fixture
def scheduler_api(token_of):
    return token_of("scheduler")


@pytest.fixture
def studies(station):
    """A match, a mismatch and an unscheduled study, the last received an hour later."""
    book("A0001", study_instance_uid="1.2.3.1")
    book("A0002", study_instance_uid="1.2.3.2")
    matched = decide(arrive("1.2.3.1", series=(("1.2.3.1.1", 2),), accession_number="A0001"))
    mismatch = decide(arrive("1.2.3.2", series=(("1.2.3.2.1", 1),), patient_name="Vivaldi^Antonia"))
    unscheduled = decide(arrive("1.2.3.3", series=(("1.2.3.3.1", 1),), patient_id="WALKIN"))
    Study.objects.exclude(pk=unscheduled.pk).update(
        last_received_at=timezone.now() - timedelta(hours=1)
    )
    return matched, mismatch, unscheduled


def uids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return sorted(s["study_instance_uid"] for s in response.json()["results"])


def test_a_study_is_shown_with_dicom_keyword_fields(scheduler_api, studies, settings):
    settings.RIS_VIEWER_URL = "https://viewer.example.org/v?StudyInstanceUIDs={study_instance_uid}"
    matched = studies[0]

    body = scheduler_api.get(f"{STUDIES}{matched.pk}/").json()

    assert body["study_instance_uid"] == "1.2.3.1"
    assert body["patient"] == {
        "patient_name": "Vivaldi^Antonio",
        "patient_id": "AV35674",
        "issuer_of_patient_id": "HOSP",
        "patient_birth_date": "1978-03-04",
        "patient_sex": "M",
    }
    assert body["accession_number"] == "A0001" and body["study_date"] == "2026-11-25"
    assert body["modalities_in_study"] == ["CT"]
    assert body["number_of_study_related_series"] == 1
    assert body["number_of_study_related_instances"] == 2
    assert body["outcome"] == "MATCHED" and body["exception_open"] is False
    assert body["decision"]["evidence"]["matched_by"] == "study_instance_uid"
    assert body["decision"]["decided_by"] is None
    series = body["series"][0]
    assert series["series_instance_uid"] == "1.2.3.1.1"
    assert series["modality"] == "CT" and series["number_of_series_related_instances"] == 2
    assert body["viewer_url"] == "https://viewer.example.org/v?StudyInstanceUIDs=1.2.3.1"


def test_studies_are_filtered(scheduler_api, studies, station):
    assert uids(scheduler_api.get(STUDIES)) == ["1.2.3.1", "1.2.3.2", "1.2.3.3"]
    assert uids(scheduler_api.get(STUDIES, {"outcome": "MISMATCH"})) == ["1.2.3.2"]
    assert uids(scheduler_api.get(STUDIES, {"accession_number": "A0001"})) == ["1.2.3.1"]
    assert uids(scheduler_api.get(STUDIES, {"patient_id": "WALKIN"})) == ["1.2.3.3"]
    assert uids(scheduler_api.get(STUDIES, {"study_instance_uid": "1.2.3.2"})) == ["1.2.3.2"]
    since = (timezone.now() - timedelta(minutes=5)).isoformat()
    assert uids(scheduler_api.get(STUDIES, {"since": since})) == ["1.2.3.3"]
    assert uids(scheduler_api.get(STUDIES, {"exception_open": "true"})) == ["1.2.3.2", "1.2.3.3"]


def test_the_patient_id_filter_also_finds_the_study_by_its_order(scheduler_api, studies):
    order = book("A0300", patient={"patient_id": "WALKIN2"})
    scheduler_api.post(f"{STUDIES}{studies[2].pk}/link/", {"order": order.pk}, format="json")

    assert uids(scheduler_api.get(STUDIES, {"patient_id": "WALKIN2"})) == ["1.2.3.3"]


def test_a_bad_filter_is_a_400_naming_it(scheduler_api, studies):
    assert "outcome" in scheduler_api.get(STUDIES, {"outcome": "LOST"}).json()
    response = scheduler_api.get(STUDIES, {"since": "yesterday"})
    assert response.status_code == 400 and "since" in response.json()


def test_linking_by_accession_number(scheduler_api, studies):
    unscheduled = studies[2]
    order = book("A0100", patient={"patient_id": "WALKIN"})

    response = scheduler_api.post(
        f"{STUDIES}{unscheduled.pk}/link/",
        {"accession_number": "A0100", "revision": unscheduled.revision},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["order"] == order.pk and body["linked_by_hand"] is True
    assert body["outcome"] == "MATCHED" and body["exception_open"] is False
    assert body["decision"]["decided_by"] == "api-scheduler"
    event = Event.objects.get(detail__contains="[study_link]")
    assert event.channel == "api" and event.username == "api-scheduler"


def test_linking_names_one_existing_order(scheduler_api, studies):
    unscheduled = studies[2]
    link = f"{STUDIES}{unscheduled.pk}/link/"

    neither = scheduler_api.post(link, {}, format="json")
    both = scheduler_api.post(link, {"order": 1, "accession_number": "A0001"}, format="json")
    unknown = scheduler_api.post(link, {"accession_number": "NOPE"}, format="json")
    typo = scheduler_api.post(link, {"accesion_number": "A0001"}, format="json")

    assert neither.status_code == both.status_code == 400 and "order" in neither.json()
    assert unknown.status_code == 400 and unknown.json() == {"accession_number": ["No such order."]}
    assert typo.status_code == 400 and "accesion_number" in typo.json()
    assert Study.objects.get(pk=unscheduled.pk).exception_open


def test_resolving_needs_a_comment(scheduler_api, studies):
    mismatch = studies[1]
    resolve = f"{STUDIES}{mismatch.pk}/resolve/"

    missing = scheduler_api.post(resolve, {}, format="json")
    done = scheduler_api.post(
        resolve, {"comment": "Known alias", "revision": mismatch.revision}, format="json"
    )

    assert missing.status_code == 400 and "comment" in missing.json()
    assert done.status_code == 200
    assert done.json()["exception_open"] is False
    assert done.json()["decision"]["resolution"] == "resolved"
    assert done.json()["decision"]["resolution_comment"] == "Known alias"
    assert done.json()["decision"]["resolved_by"] == "api-scheduler"


def test_acting_on_a_stale_revision_is_a_409(scheduler_api, studies):
    unscheduled = studies[2]
    shown = unscheduled.revision
    decide(arrive("1.2.3.3", series=(("1.2.3.3.2", 1),), patient_id="WALKIN"))

    response = scheduler_api.post(
        f"{STUDIES}{unscheduled.pk}/resolve/", {"comment": "x", "revision": shown}, format="json"
    )

    assert response.status_code == 409
    body = response.json()
    assert "changed since it was shown" in body["detail"]
    assert body["study"]["id"] == unscheduled.pk and body["study"]["revision"] > shown


def test_acting_on_a_closed_exception_is_a_409(scheduler_api, token_of, studies):
    mismatch = studies[1]
    other = token_of("administrator")
    first = other.post(f"{STUDIES}{mismatch.pk}/resolve/", {"comment": "done"}, format="json")
    assert first.status_code == 200

    response = scheduler_api.post(
        f"{STUDIES}{mismatch.pk}/link/", {"accession_number": "A0002"}, format="json"
    )

    assert response.status_code == 409
    assert "no longer open" in response.json()["detail"]


def test_permissions(token_of, studies):
    unscheduled = studies[2]
    technologist = token_of("technologist")
    assert technologist.get(STUDIES).status_code == 200
    assert (
        technologist.post(
            f"{STUDIES}{unscheduled.pk}/resolve/", {"comment": "x"}, format="json"
        ).status_code
        == 403
    )
    assert token_of("compliance officer").get(STUDIES).status_code == 403
    assert APIClient().get(STUDIES).status_code == 401
    # Studies arrive by DICOM only: nobody holds add_study
    assert token_of("scheduler").post(STUDIES, {}, format="json").status_code == 403


def test_reading_studies_is_audited(scheduler_api, studies):
    scheduler_api.get(STUDIES, {"study_instance_uid": "1.2.3.3"})

    read = Event.objects.filter(event_action_code="R", username="api-scheduler", channel="api")
    assert any(["study_instance_uid", "1.2.3.3"] in e.participant_objects for e in read)
    assert [p.patient_id for e in read for p in e.patients.all()] == ["WALKIN"]


def test_the_schema_documents_the_studies(scheduler_api):
    schema = scheduler_api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert {"/api/studies/", "/api/studies/{id}/link/", "/api/studies/{id}/resolve/"} <= set(paths)
    names = {p["name"] for p in paths["/api/studies/"]["get"]["parameters"]}
    assert {"outcome", "accession_number", "patient_id", "study_instance_uid", "since"} <= names
    assert "409" in paths["/api/studies/{id}/resolve/"]["post"]["responses"]
