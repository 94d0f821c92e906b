"""Matching (PS3.4 C.2.2.2) over the network: a pynetdicom SCU asks the listener, as
a modality would, for worklists booked through the booking service."""

from datetime import timedelta

import pytest

from tests.factories import book_step, dicom_date, future_day, local, station

from .conftest import find, mwl_query, values

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR")

DAY = future_day(7)  # a day ahead: its bookings are all in the future
DAY_BEFORE, DAY_AFTER = DAY - timedelta(days=1), DAY + timedelta(days=1)


@pytest.fixture
def rooms(dicom_port):
    station("CT1", "CT")
    station("MR1", "MR")
    return dicom_port


def names(port, **keys):
    return values(
        find(port, mwl_query(PatientName="", sps={}, **keys), calling_ae="CT1"), "PatientName"
    )


def test_universal_matching_returns_every_step_of_the_station(rooms):
    book_step(patient_name="Vivaldi^Antonio", start=local(DAY, 9))
    book_step(patient_name="Haydn^Franz", start=local(DAY, 10))
    assert names(rooms) == ["Vivaldi^Antonio", "Haydn^Franz"]


def test_single_value_matching_is_exact_and_case_sensitive(rooms):
    book_step(accession_number="ACC1", start=local(DAY, 9))
    book_step(accession_number="acc1", start=local(DAY, 10))
    book_step(accession_number="ACC10", start=local(DAY, 11))
    found = find(rooms, mwl_query(AccessionNumber="ACC1", sps={}))
    assert values(found, "AccessionNumber") == ["ACC1"]


def test_wildcard_star_and_question_mark(rooms):
    for n, accession in enumerate(["A100", "A110", "A2", "B100"]):
        book_step(accession_number=accession, start=local(DAY, 9 + n))
    assert values(find(rooms, mwl_query(AccessionNumber="A1*", sps={})), "AccessionNumber") == [
        "A100",
        "A110",
    ]
    assert values(find(rooms, mwl_query(AccessionNumber="A1?0", sps={})), "AccessionNumber") == [
        "A100",
        "A110",
    ]


def test_sql_wildcards_in_a_query_are_literal(rooms):
    book_step(accession_number="A_1%", start=local(DAY, 9))
    book_step(accession_number="AB1X", start=local(DAY, 10))
    assert values(find(rooms, mwl_query(AccessionNumber="A_1%", sps={})), "AccessionNumber") == [
        "A_1%"
    ]
    assert values(find(rooms, mwl_query(AccessionNumber="A_*", sps={})), "AccessionNumber") == [
        "A_1%"
    ]


def test_a_star_alone_is_universal_and_also_finds_empty_values(rooms):
    book_step(step={"scheduled_procedure_step_description": "Head"}, start=local(DAY, 9))
    book_step(step={"scheduled_procedure_step_description": ""}, start=local(DAY, 10))
    found = find(rooms, mwl_query(sps={"ScheduledProcedureStepDescription": "*"}))
    assert values(found, "ScheduledProcedureStepDescription", sps=True) == ["Head", ""]


def test_an_empty_value_never_matches_a_pattern(rooms):
    book_step(step={"scheduled_procedure_step_description": "Head"}, start=local(DAY, 9))
    book_step(step={"scheduled_procedure_step_description": ""}, start=local(DAY, 10))
    found = find(rooms, mwl_query(sps={"ScheduledProcedureStepDescription": "*d"}))
    assert values(found, "ScheduledProcedureStepDescription", sps=True) == ["Head"]


def test_list_of_uid_matching(rooms):
    uids = ["1.2.826.0.1.1", "1.2.826.0.1.2", "1.2.826.0.1.3"]
    for n, uid in enumerate(uids):
        book_step(study_instance_uid=uid, start=local(DAY, 9 + n))
    found = find(rooms, mwl_query(StudyInstanceUID=[uids[0], uids[2]], sps={}))
    assert values(found, "StudyInstanceUID") == [uids[0], uids[2]]


def test_modality_and_station_keys_inside_the_step_sequence(rooms):
    book_step(ae_title="CT1", modality="CT", start=local(DAY, 9), patient_name="Ct^Patient")
    book_step(ae_title="MR1", modality="MR", start=local(DAY, 9), patient_name="Mr^Patient")
    found = find(
        rooms,
        mwl_query(PatientName="", sps={"Modality": "MR", "ScheduledStationAETitle": "MR1"}),
        calling_ae="MR1",
    )
    assert values(found, "PatientName") == ["Mr^Patient"]


def test_several_modality_values_match_any(rooms, api):
    # A step is booked in a room of its own modality; the CR and MG rooms offer theirs
    # to DX1 too (further Scheduled Station AE Titles), so DX1 sees all three.
    station("DX1", "DX")
    station("CR1", "CR")
    station("MG1", "MG")
    offered = {"additional_station_ae_titles": "DX1"}
    book_step(
        ae_title="CR1", modality="CR", start=local(DAY, 9), patient_name="Cr^Patient", step=offered
    )
    book_step(ae_title="DX1", modality="DX", start=local(DAY, 10), patient_name="Dx^Patient")
    book_step(
        ae_title="MG1", modality="MG", start=local(DAY, 11), patient_name="Mg^Patient", step=offered
    )
    found = find(rooms, mwl_query(PatientName="", sps={"Modality": ["CR", "DX"]}), calling_ae="DX1")
    assert values(found, "PatientName") == ["Cr^Patient", "Dx^Patient"]


def test_date_single_value_is_the_local_day(rooms):
    book_step(start=local(DAY_BEFORE, 23, 59), patient_name="Before^Midnight", minutes=1)
    book_step(start=local(DAY, 0), patient_name="At^Midnight")
    book_step(start=local(DAY, 23, 59), patient_name="Late^Evening", minutes=1)
    book_step(start=local(DAY_AFTER, 0), patient_name="Next^Day")
    found = find(
        rooms, mwl_query(PatientName="", sps={"ScheduledProcedureStepStartDate": dicom_date(DAY)})
    )
    assert values(found, "PatientName") == ["At^Midnight", "Late^Evening"]


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        (f"{dicom_date(DAY_BEFORE)}-{dicom_date(DAY)}", ["Mon^A", "Tue^B"]),
        (f"{dicom_date(DAY)}-", ["Tue^B", "Wed^C"]),
        (f"-{dicom_date(DAY)}", ["Mon^A", "Tue^B"]),
    ],
)
def test_date_ranges_closed_and_open(rooms, dates, expected):
    book_step(start=local(DAY_BEFORE, 9), patient_name="Mon^A")
    book_step(start=local(DAY, 9), patient_name="Tue^B")
    book_step(start=local(DAY_AFTER, 9), patient_name="Wed^C")
    found = find(rooms, mwl_query(PatientName="", sps={"ScheduledProcedureStepStartDate": dates}))
    assert values(found, "PatientName") == expected


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        ("0800-1215", ["Early^A", "Noon^B"]),
        ("0800-1214", ["Early^A"]),
        ("1200-", ["Noon^B", "Late^C"]),
        ("-1159", ["Early^A"]),
        ("12", ["Noon^B"]),
    ],
)
def test_time_ranges_on_any_day(rooms, times, expected):
    book_step(start=local(DAY_BEFORE, 8, 30), patient_name="Early^A")
    book_step(start=local(DAY, 12, 15), patient_name="Noon^B")
    book_step(start=local(DAY_AFTER, 17, 45), patient_name="Late^C")
    found = find(rooms, mwl_query(PatientName="", sps={"ScheduledProcedureStepStartTime": times}))
    assert values(found, "PatientName") == expected


def test_start_date_and_time_together_are_one_period(rooms):
    """C.2.2.2.5.4: 24th-25th with 20:00-08:00 is the night from the 24th 20:00 to the
    25th 08:00; on their own the time range would cross midnight."""
    book_step(start=local(DAY_BEFORE, 19, 45), patient_name="Too^Early")
    book_step(start=local(DAY_BEFORE, 22), patient_name="Night^Shift")
    book_step(start=local(DAY, 7, 45), patient_name="Dawn^Shift")
    book_step(start=local(DAY, 9), patient_name="Too^Late")
    found = find(
        rooms,
        mwl_query(
            PatientName="",
            sps={
                "ScheduledProcedureStepStartDate": f"{dicom_date(DAY_BEFORE)}-{dicom_date(DAY)}",
                "ScheduledProcedureStepStartTime": "2000-0800",
            },
        ),
    )
    assert values(found, "PatientName") == ["Night^Shift", "Dawn^Shift"]


def test_patient_name_matches_case_and_accent_insensitively(rooms):
    book_step(patient_name="Müller^Jörg", start=local(DAY, 9))
    book_step(patient_name="Mueller^Hans", start=local(DAY, 10))
    assert values(find(rooms, mwl_query(PatientName="MULLER^JORG", sps={})), "PatientName") == [
        "Müller^Jörg"
    ]
    assert values(find(rooms, mwl_query(PatientName="mül*", sps={})), "PatientName") == [
        "Müller^Jörg"
    ]


def test_an_accent_in_the_query_means_it(rooms, settings):
    """Mü* finds Müller and no Murphy: the answer stays under the match cap that a
    two-way match (M, then any u) would exceed."""
    settings.RIS_MWL_MAX_MATCHES = 2
    book_step(patient_name="Müller^Jörg", start=local(DAY, 9))
    for n, family in enumerate(["Murphy", "Mustermann", "Muller"]):
        book_step(patient_name=f"{family}^Anne", start=local(DAY, 10 + n))
    found = find(rooms, mwl_query(PatientName="Mü*", sps={}))
    assert values(found, "PatientName") == ["Müller^Jörg"]
    found = find(rooms, mwl_query(PatientName="MULLER*", sps={}))
    assert values(found, "PatientName") == ["Müller^Jörg", "Muller^Anne"]


def test_accents_count_when_configured(rooms, settings):
    settings.RIS_MWL_ACCENT_INSENSITIVE = False
    book_step(patient_name="Müller^Jörg", start=local(DAY, 9))
    book_step(patient_name="Muller^Jorg", start=local(DAY, 10))
    assert values(find(rooms, mwl_query(PatientName="MÜLLER*", sps={})), "PatientName") == [
        "Müller^Jörg"
    ]


def test_person_name_component_groups_match_each_on_its_own(rooms):
    book_step(patient_name="Yamada^Tarou=山田^太郎=やまだ^たろう", start=local(DAY, 9))
    book_step(patient_name="Yamamoto^Hanako=山本^花子=やまもと^はなこ", start=local(DAY, 10))
    found = find(rooms, mwl_query(PatientName="=山田*", sps={}))
    assert values(found, "PatientName") == ["Yamada^Tarou=山田^太郎=やまだ^たろう"]
    found = find(rooms, mwl_query(PatientName="YAMA*==やまもと*", sps={}))
    assert values(found, "PatientName") == ["Yamamoto^Hanako=山本^花子=やまもと^はなこ"]


def test_other_person_names_match_case_insensitively(rooms):
    book_step(step={"scheduled_performing_physician_name": "Jones^Ann"}, start=local(DAY, 9))
    book_step(step={"scheduled_performing_physician_name": "Smith^Bo"}, start=local(DAY, 10))
    found = find(rooms, mwl_query(sps={"ScheduledPerformingPhysicianName": "JONES*"}))
    assert values(found, "ScheduledPerformingPhysicianName", sps=True) == ["Jones^Ann"]


def test_patient_birth_date_range(rooms):
    book_step(patient={"patient_birth_date": "1970-05-01"}, patient_name="Born^Seventies")
    book_step(
        patient={"patient_birth_date": "1985-05-01"},
        patient_name="Born^Eighties",
        start=local(DAY, 10),
    )
    found = find(rooms, mwl_query(PatientName="", PatientBirthDate="19700101-19791231", sps={}))
    assert values(found, "PatientName") == ["Born^Seventies"]


def test_code_sequence_matching_returns_the_matching_items_only(rooms):
    book_step(
        requested_procedure_code_sequence=[
            {
                "code_value": "CTHEAD",
                "coding_scheme_designator": "LOCAL",
                "code_meaning": "CT head",
            },
            {"code_value": "ZZ01", "coding_scheme_designator": "99X", "code_meaning": "Other"},
        ],
        patient_name="Head^Scan",
    )
    book_step(
        requested_procedure_code_sequence=[
            {"code_value": "CTCHEST", "coding_scheme_designator": "LOCAL", "code_meaning": "Chest"}
        ],
        patient_name="Chest^Scan",
        start=local(DAY, 10),
    )
    from pydicom.dataset import Dataset

    code = Dataset()
    code.CodeValue = "CTH*"
    code.CodingSchemeDesignator = "LOCAL"
    code.CodeMeaning = ""
    identifier = mwl_query(PatientName="", sps={})
    identifier.RequestedProcedureCodeSequence = [code]
    found = find(rooms, identifier)
    assert values(found, "PatientName") == ["Head^Scan"]
    (answer,) = [i for s, i in found if i is not None]
    items = answer.RequestedProcedureCodeSequence
    assert [(i.CodeValue, i.CodingSchemeDesignator, i.CodeMeaning) for i in items] == [
        ("CTHEAD", "LOCAL", "CT head")
    ]


def test_steps_offered_to_further_station_ae_titles_match_on_any(rooms):
    station("CR1", "CR")
    book_step(
        ae_title="CR1",
        step={"additional_station_ae_titles": "CR2\\CR3"},
        patient_name="Shared^Room",
    )
    book_step(ae_title="CR1", patient_name="Only^Cr1", start=local(DAY, 10))
    from worklist.models import Modality
    from worklist.services.stations import modality_save

    modality_save(modality=Modality(), ae_title="BROKER", sees_all_stations=True)
    found = find(
        rooms,
        mwl_query(PatientName="", sps={"ScheduledStationAETitle": "CR3"}),
        calling_ae="BROKER",
    )
    assert values(found, "PatientName") == ["Shared^Room"]
    (answer,) = [i for s, i in found if i is not None]
    assert list(answer.ScheduledProcedureStepSequence[0].ScheduledStationAETitle) == [
        "CR1",
        "CR2",
        "CR3",
    ]
