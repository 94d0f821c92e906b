"""Each worklist query is audited (DICOM PS3.15 A.5.3.12 Query): the calling AE, the
peer's address, the query keys and every patient returned, written before the
first answer leaves."""

import pytest

from audit.codes import Action, Channel, Outcome, Verb
from audit.models import Event

from .conftest import book, find, matches, mwl_query, station

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR")


@pytest.fixture
def ct1(dicom_port):
    station("CT1")
    return dicom_port


def query_events():
    return list(Event.objects.filter(action=Action.QUERY).order_by("seq"))


def test_a_query_is_audited_with_caller_keys_and_every_patient_returned(ct1):
    book(patient_id="AV35674", patient_name="Vivaldi^Antonio", start="2026-11-25T09:00")
    book(patient_id="HF1", patient_name="Haydn^Franz", start="2026-11-25T10:00")
    book(patient_id="MW1", patient_name="Mozart^Wolfgang", start="2026-11-26T10:00")
    found = find(
        ct1,
        mwl_query(PatientName="", sps={"ScheduledProcedureStepStartDate": "20261125"}),
        calling_ae="CT1",
    )
    assert len(matches(found)) == 2

    (event,) = query_events()
    assert event.ae_title == "CT1"
    assert event.source_ip == "127.0.0.1"
    assert event.channel == Channel.DICOM
    assert event.event_action_code == Verb.EXECUTE
    assert event.event_outcome_indicator == Outcome.SUCCESS
    assert "ScheduledProcedureStepStartDate=20261125" in event.detail
    assert sorted(p.patient_id for p in event.patients.all()) == ["AV35674", "HF1"]


def test_a_query_that_finds_nothing_is_audited_too(ct1):
    find(ct1, mwl_query(PatientName="NOBODY"))
    (event,) = query_events()
    assert "PatientName=NOBODY" in event.detail
    assert list(event.patients.all()) == []


def test_a_refused_query_is_audited_as_a_failure_without_patients(ct1, settings):
    settings.RIS_MWL_MAX_MATCHES = 1
    book(start="2026-11-25T09:00")
    book(start="2026-11-25T10:00")
    assert find(ct1, mwl_query(PatientName=""))[-1][0].Status == 0xA700
    (event,) = query_events()
    assert event.event_outcome_indicator == Outcome.MINOR_FAILURE
    assert "more than 1 matches" in event.detail
    assert list(event.patients.all()) == []


def test_no_answer_leaves_without_its_audit_record(ct1, monkeypatch):
    from audit import services

    book()

    def refuse(*args, **kwargs):
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(services, "record", refuse)
    responses = find(ct1, mwl_query(PatientName=""))
    assert len(responses) == 1
    assert responses[0][0].Status == 0xC000
    assert responses[0][0].ErrorComment == "Cannot record the query in the audit"
