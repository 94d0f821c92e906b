"""Return keys (PS3.4 K.2.2.1.2, C.2.2.2.6): every requested attribute comes back,
empty when we hold no value, nothing unrequested does, and sequences hold what was
asked for."""

from decimal import Decimal

import pytest
from pydicom.dataset import Dataset

from tests.factories import book_step, dicom_date, future_day, local, station
from worklist.models import Patient

from .conftest import find, matches, mwl_query

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR")

DAY = future_day(7)  # a day ahead: its bookings are all in the future


@pytest.fixture
def one_step(dicom_port):
    station("CT1", "CT", scheduled_procedure_step_location="Radiology B")
    step = book_step(
        start=local(DAY, 9),
        patient_name="Vivaldi^Antonio",
        patient={"patient_birth_date": "1978-03-04", "patient_sex": "M"},
        accession_number="A0001",
        referring_physician_name="Smith^John",
        requested_procedure_id="RP0001",
        requested_procedure_description="CT head without contrast",
        requested_procedure_code_sequence=[
            {"code_value": "CTHEAD", "coding_scheme_designator": "LOCAL", "code_meaning": "CT head"}
        ],
        study_instance_uid="1.2.826.0.1.3680043.2.1",
        step={
            "scheduled_performing_physician_name": "Jones^Ann",
            "scheduled_procedure_step_description": "CT head",
        },
    )
    return dicom_port, step


def only(responses) -> Dataset:
    (found,) = matches(responses)
    return found


def test_every_requested_attribute_comes_back_and_nothing_else(one_step):
    port, step = one_step
    identifier = mwl_query(
        AccessionNumber="",
        PatientName="",
        PatientID="",
        PatientBirthDate="",
        PatientSex="",
        StudyInstanceUID="",
        RequestedProcedureID="",
        sps={"ScheduledStationAETitle": "", "ScheduledProcedureStepStartDate": "", "Modality": ""},
    )
    answer = only(find(port, identifier))
    assert set(answer.dir()) == set(identifier.dir()) | {"SpecificCharacterSet"}
    assert set(answer.ScheduledProcedureStepSequence[0].dir()) == {
        "ScheduledStationAETitle",
        "ScheduledProcedureStepStartDate",
        "Modality",
    }
    assert answer.AccessionNumber == "A0001"
    assert answer.PatientBirthDate == "19780304"
    assert answer.StudyInstanceUID == "1.2.826.0.1.3680043.2.1"
    assert answer.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate == dicom_date(
        DAY
    )


def test_a_requested_attribute_we_hold_no_value_for_comes_back_empty(one_step):
    port, _ = one_step
    answer = only(find(port, mwl_query(MedicalAlerts="", PatientWeight="", InstitutionName="")))
    assert answer.MedicalAlerts == ""
    assert answer.PatientWeight is None
    assert answer.InstitutionName == ""  # not ours at all: still answered, empty


def test_numbers_come_back_in_their_vr(one_step):
    port, step = one_step
    Patient.objects.filter(pk=step.requested_procedure.order.patient_id).update(
        patient_weight=Decimal("71.50"), pregnancy_status=4
    )
    answer = only(find(port, mwl_query(PatientWeight="", PregnancyStatus=None)))
    assert answer.PatientWeight == Decimal("71.5")
    assert answer.PregnancyStatus == 4


def test_an_empty_step_sequence_item_asks_for_the_whole_step(one_step):
    port, _ = one_step
    identifier = mwl_query(PatientName="")
    identifier.ScheduledProcedureStepSequence = [Dataset()]
    item = only(find(port, identifier)).ScheduledProcedureStepSequence[0]
    assert item.Modality == "CT"
    assert item.ScheduledStationAETitle == "CT1"
    assert item.ScheduledProcedureStepStartTime == "090000"
    assert item.ScheduledProcedureStepEndTime == "091500"
    assert item.ScheduledProcedureStepStatus == "SCHEDULED"
    assert item.ScheduledProcedureStepLocation == "Radiology B"
    assert str(item.ScheduledPerformingPhysicianName) == "Jones^Ann"
    assert "ScheduledProcedureStepStartDateTime" not in item  # asked for by name only


def test_a_zero_length_step_sequence_also_asks_for_the_whole_step(one_step):
    port, _ = one_step
    identifier = mwl_query(PatientName="")
    identifier.ScheduledProcedureStepSequence = []
    item = only(find(port, identifier)).ScheduledProcedureStepSequence[0]
    assert item.ScheduledProcedureStepID.startswith("SPS")


def test_a_code_sequence_with_an_empty_item_returns_every_code_whole(one_step):
    port, _ = one_step
    identifier = mwl_query(PatientName="")
    identifier.RequestedProcedureCodeSequence = [Dataset()]
    (code,) = only(find(port, identifier)).RequestedProcedureCodeSequence
    assert (code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning) == (
        "CTHEAD",
        "LOCAL",
        "CT head",
    )
    assert "CodingSchemeVersion" not in code  # not held


def test_a_code_sequence_item_with_keys_returns_those_keys(one_step):
    port, _ = one_step
    item = Dataset()
    item.CodeValue = ""
    identifier = mwl_query(PatientName="")
    identifier.RequestedProcedureCodeSequence = [item]
    (code,) = only(find(port, identifier)).RequestedProcedureCodeSequence
    assert code.dir() == ["CodeValue"]


def test_a_sequence_we_do_not_hold_comes_back_empty(one_step):
    port, _ = one_step
    identifier = mwl_query(PatientName="")
    identifier.ReferencedStudySequence = [Dataset()]
    assert only(find(port, identifier)).ReferencedStudySequence == []


def test_times_are_answered_in_local_time(one_step, settings):
    port, _ = one_step
    settings.TIME_ZONE = "UTC"
    item = only(
        find(port, mwl_query(sps={"ScheduledProcedureStepStartTime": ""}))
    ).ScheduledProcedureStepSequence[0]
    assert item.ScheduledProcedureStepStartTime == "080000"


def test_timezone_offset_in_the_query_sets_the_answers_times(one_step):
    port, _ = one_step
    identifier = mwl_query(sps={"ScheduledProcedureStepStartTime": ""})
    identifier.TimezoneOffsetFromUTC = "+0000"
    answer = only(find(port, identifier))
    assert answer.TimezoneOffsetFromUTC == "+0000"
    assert answer.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime == "080000"


def test_utf8_is_the_default_specific_character_set(one_step):
    port, _ = one_step
    assert only(find(port, mwl_query(PatientName=""))).SpecificCharacterSet == "ISO_IR 192"
