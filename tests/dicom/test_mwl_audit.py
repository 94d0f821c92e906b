"""Each worklist query is audited (DICOM PS3.15 A.5.3.12 Query): the calling AE, the
peer's address, the query keys and every patient returned, written before the
first answer leaves."""

from datetime import timedelta

import pytest

from audit.codes import Action, Channel, Outcome, Verb
from audit.models import Event
from tests.factories import book_step, dicom_date, future_day, local, station

from .conftest import find, matches, mwl_query

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR")

DAY = future_day(7)  # a day ahead: its bookings are all in the future
DAY_BEFORE, DAY_AFTER = DAY - timedelta(days=1), DAY + timedelta(days=1)


@pytest.fixture
def ct1(dicom_port):
    station("CT1")
    return dicom_port


def query_events():
    return list(Event.objects.filter(action=Action.QUERY).order_by("seq"))


def test_a_query_is_audited_with_caller_keys_and_every_patient_returned(ct1):
    book_step(patient_id="AV35674", patient_name="Vivaldi^Antonio", start=local(DAY, 9))
    book_step(patient_id="HF1", patient_name="Haydn^Franz", start=local(DAY, 10))
    book_step(patient_id="MW1", patient_name="Mozart^Wolfgang", start=local(DAY_AFTER, 10))
    found = find(
        ct1,
        mwl_query(PatientName="", sps={"ScheduledProcedureStepStartDate": dicom_date(DAY)}),
        calling_ae="CT1",
    )
    assert len(matches(found)) == 2

    (event,) = query_events()
    assert event.ae_title == "CT1"
    assert event.source_ip == "127.0.0.1"
    assert event.channel == Channel.DICOM
    assert event.event_action_code == Verb.EXECUTE
    assert event.event_outcome_indicator == Outcome.SUCCESS
    assert f"ScheduledProcedureStepStartDate={dicom_date(DAY)}" in event.detail
    assert sorted(p.patient_id for p in event.patients.all()) == ["AV35674", "HF1"]


def test_a_query_that_finds_nothing_is_audited_too(ct1):
    find(ct1, mwl_query(PatientName="NOBODY"))
    (event,) = query_events()
    assert "PatientName=NOBODY" in event.detail
    assert list(event.patients.all()) == []


def test_a_refused_query_is_audited_as_a_failure_without_patients(ct1, settings):
    settings.RIS_MWL_MAX_MATCHES = 1
    book_step(start=local(DAY, 9))
    book_step(start=local(DAY, 10))
    assert find(ct1, mwl_query(PatientName=""))[-1][0].Status == 0xA700
    (event,) = query_events()
    assert event.event_outcome_indicator == Outcome.MINOR_FAILURE
    assert "more than 1 matches" in event.detail
    assert list(event.patients.all()) == []


def test_no_answer_leaves_without_its_audit_record(ct1, monkeypatch):
    from audit import services

    book_step()

    def refuse(*args, **kwargs):
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(services, "record", refuse)
    responses = find(ct1, mwl_query(PatientName=""))
    assert len(responses) == 1
    assert responses[0][0].Status == 0xC000
    assert responses[0][0].ErrorComment == "Cannot record the query in the audit"
