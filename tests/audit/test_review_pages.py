"""The review pages: compliance officers only, every use recorded."""

import csv
import io
import xml.etree.ElementTree as ET

import pytest

from audit.codes import Action, Outcome

from .conftest import events_after, patients_of, record_as

pytestmark = pytest.mark.django_db


@pytest.fixture
def accesses(scheduler, django_user_model):
    from .conftest import make_user

    bob = make_user(django_user_model, "bob", group="radiologist")
    record_as(scheduler, Action.PATIENT_RECORD, patients=[("AV35674", "HOSP")])
    record_as(scheduler, Action.ORDER_RECORD, verb="C", patients=[("AV35674", "HOSP")])
    record_as(bob, Action.PATIENT_RECORD, patients=[("AV35674", "HOSP"), ("OTHER", "HOSP")])
    record_as(bob, Action.PATIENT_RECORD, patients=[("OTHER", "HOSP")])
    return bob


@pytest.fixture
def officer_client(client, compliance_officer):
    client.force_login(compliance_officer)
    return client


def test_other_roles_are_refused_and_the_refusal_recorded(client, scheduler, mark):
    client.force_login(scheduler)
    after_login = events_after(mark)[-1].seq
    response = client.get("/audit/")
    assert response.status_code == 403
    [alert] = events_after(after_login)
    assert alert.get_action_display() == "Security Alert"
    assert alert.event_type_code == "110132"
    assert alert.event_outcome_indicator == Outcome.MINOR_FAILURE
    assert (alert.username, alert.detail) == ("alice", "GET /audit/")


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/audit/report/")
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_search_by_patient_lists_who_accessed_and_is_recorded(officer_client, accesses):
    mark = events_after(0)[-1].seq
    response = officer_client.get("/audit/", {"patient_id": "AV35674", "issuer": "HOSP"})
    assert response.status_code == 200
    events = response.context["page"].events
    assert [(e.username, e.event_action_code) for e in events] == [
        ("bob", "R"),
        ("alice", "C"),
        ("alice", "R"),
    ]
    [used] = events_after(mark)
    assert (used.get_action_display(), used.username) == ("Audit Log Used", "carol")
    assert patients_of(used) == [("AV35674", "HOSP")]
    assert "AV35674" not in used.detail


def test_search_by_user_and_action(officer_client, accesses):
    response = officer_client.get("/audit/", {"user": "alice", "action": "110109"})
    assert [e.event_action_code for e in response.context["page"].events] == ["C"]


def test_pages_go_back_in_time_by_keyset(officer_client, accesses):
    first = officer_client.get("/audit/", {"user": "bob"}).context["page"]
    assert first.older is None  # two events fit on one page
    from audit import selectors

    search = selectors.EventSearch(user="bob")
    page_one = selectors.event_page(search, size=1)
    page_two = selectors.event_page(search, before=page_one.older, size=1)
    back = selectors.event_page(search, after=page_two.newer, size=1)
    assert [e.seq for e in back.events] == [e.seq for e in page_one.events]
    assert page_two.older is None and page_one.newer is None


def test_the_patient_report_groups_accesses_by_actor(officer_client, accesses):
    response = officer_client.get("/audit/report/", {"patient_id": "AV35674"})
    report = response.context["report"]
    assert [(a.actor, a.accesses, a.reads, a.changes) for a in report.actors] == [
        ("alice", 2, 1, 1),
        ("bob", 1, 1, 0),
    ]
    assert len(report.events) == 3
    assert b"Download CSV" in response.content
    assert b"data-print" in response.content  # worklist/static/worklist/ris.js


def test_the_report_downloads_as_csv_and_the_export_is_recorded(officer_client, accesses):
    mark = events_after(0)[-1].seq
    response = officer_client.get("/audit/report.csv", {"patient_id": "AV35674", "issuer": "HOSP"})
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="access-report-AV35674.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["actor"], r["event_action_code"], r["action"]) for r in rows] == [
        ("alice", "R", "Patient Record"),
        ("alice", "C", "Order Record"),
        ("bob", "R", "Patient Record"),
    ]
    assert rows[0]["source_ip"] == "10.1.2.3"
    [export] = events_after(mark)
    assert export.get_action_display() == "Export"
    assert patients_of(export) == [("AV35674", "HOSP")]


def test_search_results_download_as_dicom_audit_messages(officer_client, accesses):
    response = officer_client.get("/audit/messages.xml", {"patient_id": "OTHER"})
    root = ET.fromstring(b"".join(response.streaming_content))  # noqa: S314 - our own XML
    assert len(root.findall("AuditMessage")) == 2


def test_invalid_filters_are_shown_not_searched(officer_client):
    response = officer_client.get("/audit/", {"since": "yesterday"})
    assert response.status_code == 200
    assert response.context["page"] is None
    assert "since" in response.context["form"].errors


def test_the_unusual_access_page_renders(officer_client, accesses):
    response = officer_client.get("/audit/unusual/")
    assert response.status_code == 200
    assert b"Access without an order relationship" in response.content


def test_the_audit_link_is_shown_to_compliance_officers_only(client, compliance_officer, scheduler):
    client.force_login(compliance_officer)
    assert b'href="/audit/"' in client.get("/patients/").content
    client.force_login(scheduler)
    assert b'href="/audit/"' not in client.get("/patients/").content


def test_the_compliance_officer_role_may_review_the_trail():
    """The role group of the roles migration gets audit.view_event after migrating."""
    from django.contrib.auth.models import Group

    from audit.apps import grant_review_to_compliance_officers

    group, _ = Group.objects.get_or_create(name="compliance officer")
    group.permissions.clear()
    grant_review_to_compliance_officers(sender=None)
    assert group.permissions.filter(codename="view_event").exists()
