"""Query input that would make the database work for nothing is refused before any
query: values longer than their VR allows, too many values, NUL characters. The
answer is C000 with the key in Error Comment and Offending Element, the refusal is
logged on one line and audited, and the listener keeps serving."""

import logging
import struct
from datetime import timedelta

import pytest
from pydicom.dataset import Dataset

from audit.codes import Action, Outcome
from audit.models import Event
from tests.factories import book_step, dicom_date, future_day, local, station
from worklist import selectors
from worklist.dicom import query
from worklist.models import RequestedProcedure

from .conftest import find, matches, mwl_query, values

DAY = future_day(7)  # its bookings are all in the future
DAY_BEFORE = DAY - timedelta(days=1)
RANGE = f"{dicom_date(DAY_BEFORE)}-{dicom_date(DAY)}"

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture
def ct1(dicom_port):
    station("CT1")
    book_step(patient_name="Vivaldi^Antonio", accession_number="ACC1", start=local(DAY, 9))
    return dicom_port


@pytest.fixture
def no_database_query(monkeypatch):
    """Fails a test in which the refused query reaches the worklist selector."""
    reached = []
    real = selectors.modality_worklist

    def watched(**kwargs):
        reached.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(selectors, "modality_worklist", watched)
    return reached


def refusal(responses) -> Dataset:
    assert len(responses) == 1, "something was answered before the refusal"
    return responses[0][0]


@pytest.mark.parametrize(
    ("keys", "comment", "tag"),
    [
        (
            {"PatientName": "A" * 70000},
            "PatientName: a component group longer than 64",
            0x00100010,
        ),
        ({"PatientName": "A^B=C=D=E"}, "PatientName: more than 3 component groups", 0x00100010),
        ({"PatientID": "P" * 65}, "PatientID: longer than LO allows (64)", 0x00100020),
        ({"AccessionNumber": "A" * 17}, "AccessionNumber: longer than SH allows (16)", 0x00080050),
        (
            {"StudyInstanceUID": "1." * 40},
            "StudyInstanceUID: longer than UI allows (64)",
            0x0020000D,
        ),
        (
            {"sps": {"Modality": "CTCTCTCTCTCTCTCTC"}},
            "Modality: longer than CS allows (16)",
            0x00080060,
        ),
        (
            {"sps": {"ScheduledStationAETitle": "A" * 17}},
            "ScheduledStationAETitle: longer than AE allows (16)",
            0x00400001,
        ),
        (
            {"sps": {"ScheduledProcedureStepStartDate": RANGE + "-2"}},
            "ScheduledProcedureStepStartDate: longer than DA allows (18)",
            0x00400002,
        ),
        (
            {"sps": {"Modality": ["CT"] * 65}},
            "Modality: more than 64 values",
            0x00080060,
        ),
        ({"PatientID": "P1\x00' OR 1=1"}, "PatientID: NUL character in the value", 0x00100020),
    ],
)
def test_values_beyond_their_vr_are_refused_before_any_query(
    ct1, no_database_query, keys, comment, tag
):
    answer = refusal(find(ct1, mwl_query(**{"PatientName": "", **keys})))
    assert answer.Status == 0xC000
    assert answer.ErrorComment == comment
    assert answer.OffendingElement == tag
    assert no_database_query == []
    assert values(find(ct1, mwl_query(PatientName="")), "PatientName") == ["Vivaldi^Antonio"]


def test_the_longest_values_their_vr_allows_are_answered(ct1):
    name = "=".join(["A" * 30 + "^" + "B" * 33] * 3)
    found = find(
        ct1,
        mwl_query(
            PatientName=name,
            PatientID="P" * 64,
            AccessionNumber="A" * 16,
            sps={
                "ScheduledProcedureStepStartDate": RANGE,
                "Modality": "C" * 16,
            },
        ),
    )
    assert matches(found) == []


def test_a_long_value_sent_under_another_vr_is_bounded_by_its_own(ct1, no_database_query):
    identifier = mwl_query(PatientName="")
    identifier.add_new(0x00100010, "UT", "A" * 70000)
    answer = refusal(find(ct1, identifier))
    assert answer.Status == 0xC000
    assert answer.ErrorComment == "PatientName: a component group longer than 64"
    assert no_database_query == []


def test_nul_padding_of_a_uid_is_not_a_nul_in_the_value(ct1):
    uid = RequestedProcedure.objects.get().study_instance_uid
    found = find(ct1, mwl_query(PatientName="", StudyInstanceUID=uid + "\x00"))
    assert values(found, "PatientName") == ["Vivaldi^Antonio"]


@pytest.mark.parametrize(
    ("keys", "reason"),
    [
        ({"PatientID": "P1\x00X"}, "NUL character"),
        ({"PatientName": "A" * 70000, "PatientSex": "MALE" * 10}, "component group"),
        ({"sps": {"ScheduledProcedureStepStartDate": "2026-11-25"}}, "Not a date"),
    ],
)
def test_a_refused_query_is_one_log_line_without_traceback_and_audited(ct1, caplog, keys, reason):
    caplog.set_level(logging.WARNING)
    answer = refusal(find(ct1, mwl_query(**{"PatientName": "", **keys})))
    assert answer.Status == 0xC000
    # what the listener's threads logged (the test's client warns as it encodes)
    logged = [
        r for r in caplog.records if r.levelno >= logging.WARNING and r.threadName != "MainThread"
    ]
    assert [r.name for r in logged] == ["worklist.dicom.mwl"], [r.getMessage() for r in logged]
    assert reason in logged[0].getMessage()
    assert logged[0].exc_info is None
    event = Event.objects.filter(action=Action.QUERY).latest("seq")
    assert event.event_outcome_indicator == Outcome.MINOR_FAILURE
    assert reason in event.detail


def test_an_identifier_pydicom_cannot_read_is_refused_on_one_log_line(ct1, caplog, monkeypatch):
    """pydicom reads the identifier as the handler first touches it, and fails with
    whatever its reader raises for bytes it cannot parse (struct.error here)."""
    caplog.set_level(logging.WARNING)

    def unreadable(*args, **kwargs):
        raise struct.error("unpack requires a buffer of 4 bytes")

    monkeypatch.setattr(query, "translate", unreadable)
    answer = refusal(find(ct1, mwl_query(PatientName="")))
    assert answer.Status == 0xC000
    assert answer.ErrorComment == "Cannot read the identifier"
    logged = [
        r for r in caplog.records if r.levelno >= logging.WARNING and r.threadName != "MainThread"
    ]
    assert [r.name for r in logged] == ["worklist.dicom.mwl"], [r.getMessage() for r in logged]
    assert "Cannot read the identifier (error)" in logged[0].getMessage()
    assert logged[0].exc_info is None
    monkeypatch.undo()
    assert values(find(ct1, mwl_query(PatientName="")), "PatientName") == ["Vivaldi^Antonio"]
