"""GET /api/audit/events/ (contract): compliance officers only, filters patient_id,
user, action, since, until; reading it is recorded."""

import pytest

from audit.codes import Action

from .conftest import api_client_for, events_after, patients_of, record_as

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail(scheduler):
    record_as(scheduler, Action.PATIENT_RECORD, patients=[("AV35674", "HOSP")])
    record_as(scheduler, Action.ORDER_RECORD, verb="C", patients=[("AV35674", "HOSP")])
    record_as(scheduler, Action.PATIENT_RECORD, patients=[("OTHER", "")])


def test_a_compliance_officer_filters_by_patient(compliance_officer, trail):
    response = api_client_for(compliance_officer).get(
        "/api/audit/events/", {"patient_id": "AV35674"}
    )
    assert response.status_code == 200
    body = response.json()
    assert [(e["action_meaning"], e["event_action_code"]) for e in body["results"]] == [
        ("Order Record", "C"),
        ("Patient Record", "R"),
    ]
    first = body["results"][0]
    assert first["user"] == "alice"
    assert first["patients"] == [{"patient_id": "AV35674", "issuer_of_patient_id": "HOSP"}]
    assert first["event_date_time"].endswith("Z") or "+00:00" in first["event_date_time"]
    assert set(first) >= {"seq", "hash", "prev_hash", "source_ip", "channel", "correlation_id"}


def test_action_by_code_or_meaning_and_user(compliance_officer, trail):
    api = api_client_for(compliance_officer)
    by_code = api.get("/api/audit/events/", {"action": "110109", "user": "alice"}).json()
    by_name = api.get("/api/audit/events/", {"action": "order record"}).json()
    assert len(by_code["results"]) == len(by_name["results"]) == 1
    assert api.get("/api/audit/events/", {"action": "Nonsense"}).status_code == 400


def test_since_and_until(compliance_officer, trail):
    api = api_client_for(compliance_officer)
    assert api.get("/api/audit/events/", {"since": "2999-01-01T00:00:00Z"}).json()["results"] == []
    assert api.get("/api/audit/events/", {"until": "2000-01-01T00:00:00Z"}).json()["results"] == []
    assert api.get("/api/audit/events/", {"since": "not a date"}).status_code == 400


def test_pages_follow_next(compliance_officer, trail):
    api = api_client_for(compliance_officer)
    page = api.get("/api/audit/events/", {"user": "alice", "page_size": 2}).json()
    assert len(page["results"]) == 2 and page["next"]
    rest = api.get(page["next"]).json()
    assert len(rest["results"]) == 1 and rest["next"] is None and rest["previous"]


def test_other_roles_are_refused(scheduler, trail):
    response = api_client_for(scheduler).get("/api/audit/events/")
    assert response.status_code == 403


def test_without_credentials_it_is_401_and_recorded(client, mark):
    assert client.get("/api/audit/events/").status_code == 401
    [failed] = events_after(mark)
    assert failed.get_action_display() == "User Authentication"
    assert failed.event_outcome_indicator == 4


def test_reading_the_trail_is_recorded(compliance_officer, trail, mark):
    api_client_for(compliance_officer).get(
        "/api/audit/events/", {"patient_id": "AV35674"}, HTTP_X_REQUEST_ID="req-1"
    )
    [used] = [e for e in events_after(mark) if e.username == "carol"]
    assert used.get_action_display() == "Audit Log Used"
    assert (used.channel, used.correlation_id) == ("api", "req-1")
    assert patients_of(used) == [("AV35674", "HOSP")]


def test_the_schema_documents_the_endpoint(compliance_officer):
    schema = api_client_for(compliance_officer).get("/api/schema/").content.decode()
    assert "/api/audit/events/" in schema
