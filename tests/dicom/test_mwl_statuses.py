"""What is offered and how the answer ends: only SCHEDULED steps unless asked,
never a cancelled order, the cap on matches, cancel, and the failure statuses with
their Error Comment (PS3.4 K.4.1.1.4)."""

import time
from datetime import timedelta

import pytest
from django.db import DatabaseError
from pydicom.dataset import Dataset
from pynetdicom.sop_class import ModalityWorklistInformationFind

from tests.factories import book_step, future_day, local, station
from worklist import selectors
from worklist.dicom import answers, worklist_item
from worklist.models import StepStatus
from worklist.services.booking import order_cancel

from .conftest import associate, find, matches, mwl_query, values

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR")

DAY = future_day(7)  # a day ahead: its bookings are all in the future


@pytest.fixture
def ct1(dicom_port):
    answers.ANSWERS.clear()  # items are built, as the tests below expect
    station("CT1")
    return dicom_port


def final(responses) -> Dataset:
    return responses[-1][0]


def test_only_scheduled_steps_are_offered_by_default(ct1):
    book_step(patient_name="Still^Waiting", start=local(DAY, 9))
    started = book_step(patient_name="Already^Started", start=local(DAY, 10))
    started.scheduled_procedure_step_status = StepStatus.IN_PROGRESS
    started.save()
    assert values(find(ct1, mwl_query(PatientName="")), "PatientName") == ["Still^Waiting"]


def test_a_status_key_asks_for_that_status(ct1):
    book_step(patient_name="Still^Waiting", start=local(DAY, 9))
    started = book_step(patient_name="Already^Started", start=local(DAY, 10))
    started.scheduled_procedure_step_status = StepStatus.IN_PROGRESS
    started.save()
    found = find(
        ct1, mwl_query(PatientName="", sps={"ScheduledProcedureStepStatus": "IN PROGRESS"})
    )
    assert values(found, "PatientName") == ["Already^Started"]
    found = find(ct1, mwl_query(PatientName="", sps={"ScheduledProcedureStepStatus": "*"}))
    assert values(found, "PatientName") == ["Still^Waiting", "Already^Started"]


def test_a_cancelled_order_never_appears_whatever_the_status_asked(ct1):
    step = book_step(patient_name="Cancelled^Order")
    order_cancel(order=step.requested_procedure.order, reason="Patient declined")
    for status in ("", "*", "DISCONTINUED", "SCHEDULED"):
        found = find(ct1, mwl_query(PatientName="", sps={"ScheduledProcedureStepStatus": status}))
        assert matches(found) == [], status


def test_more_matches_than_the_cap_are_refused_out_of_resources(ct1, settings):
    settings.RIS_MWL_MAX_MATCHES = 3
    for hour in range(8, 12):
        book_step(start=local(DAY, hour))
    responses = find(ct1, mwl_query(PatientName=""))
    assert len(responses) == 1  # nothing but the refusal
    assert final(responses).Status == 0xA700
    assert final(responses).ErrorComment == "More than 3 matches: narrow the query"


def test_as_many_matches_as_the_cap_are_answered(ct1, settings):
    settings.RIS_MWL_MAX_MATCHES = 4
    for hour in range(8, 12):
        book_step(start=local(DAY, hour))
    assert len(matches(find(ct1, mwl_query(PatientName="")))) == 4


def test_the_cap_fetches_one_row_more_not_the_whole_result(transactional_db, settings):
    station("CT1")
    for hour in range(8, 18):
        book_step(start=local(DAY, hour))
    from django.db.models import Q

    rows = selectors.modality_worklist(match=Q(), stations=None, columns=["pk"], limit=4)
    assert len(list(rows)) == 4


def test_c_cancel_stops_the_stream(ct1, monkeypatch):
    from worklist.dicom import worklist_item

    build = worklist_item.build

    def slow_build(*args, **kwargs):
        # Each item takes a while, as on a busy server: the C-CANCEL sent after the
        # first answer arrives while items are still being built, whatever the load.
        time.sleep(0.02)
        return build(*args, **kwargs)

    monkeypatch.setattr(worklist_item, "build", slow_build)
    for n in range(120):
        book_step(start=local(DAY + timedelta(days=n // 24), n % 24), minutes=5)
    assoc = associate(ct1, max_pdu=16384)
    assert assoc.is_established
    try:
        responses = assoc.send_c_find(
            mwl_query(PatientName="", PatientID="", OtherPatientIDs="", sps={}),
            ModalityWorklistInformationFind,
            msg_id=7,
        )
        statuses = []
        for status, _ in responses:
            statuses.append(status.Status)
            if len(statuses) == 1:
                assoc.send_c_cancel(7, query_model=ModalityWorklistInformationFind)
        assert statuses[-1] == 0xFE00
        assert len(statuses) < 121
    finally:
        assoc.release()


def test_two_step_sequence_items_do_not_match_the_sop_class(ct1):
    identifier = mwl_query(PatientName="", sps={"Modality": "CT"})
    identifier.ScheduledProcedureStepSequence.append(Dataset())
    responses = find(ct1, identifier)
    assert len(responses) == 1
    assert final(responses).Status == 0xA900
    assert final(responses).ErrorComment == "ScheduledProcedureStepSequence must hold one item"
    assert final(responses).OffendingElement == 0x00400100


def test_an_unreadable_date_cannot_be_processed(ct1):
    responses = find(ct1, mwl_query(sps={"ScheduledProcedureStepStartDate": "2026-11-25"}))
    assert final(responses).Status == 0xC000
    assert final(responses).ErrorComment == "Not a date (YYYYMMDD): 2026-11-25"


def test_a_key_we_do_not_match_on_is_answered_with_the_warning_status(ct1):
    book_step()
    responses = find(ct1, mwl_query(PatientName="", PatientWeight="70"))
    assert [s.Status for s, _ in responses] == [0xFF01, 0x0000]


def test_without_such_keys_the_pending_status_is_plain(ct1):
    book_step()
    responses = find(ct1, mwl_query(PatientName=""))
    assert [s.Status for s, _ in responses] == [0xFF00, 0x0000]


def test_a_database_failure_is_unable_to_process_not_a_crash(ct1, monkeypatch):
    book_step()

    def unavailable(**kwargs):
        raise DatabaseError("connection lost")

    monkeypatch.setattr(selectors, "modality_worklist", unavailable)
    responses = find(ct1, mwl_query(PatientName=""))
    assert final(responses).Status == 0xC000
    assert final(responses).ErrorComment == "The worklist database is unavailable"


def test_a_bug_building_an_answer_is_unable_to_process_not_a_crash(ct1, monkeypatch):
    book_step()

    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(worklist_item, "build", broken)
    responses = find(ct1, mwl_query(PatientName=""))
    assert final(responses).Status == 0xC000
    assert final(responses).ErrorComment == "Cannot build a worklist item"
    # and the listener still answers
    monkeypatch.undo()
    assert len(matches(find(ct1, mwl_query(PatientName="")))) == 1
