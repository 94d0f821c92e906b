"""worklist.dicom.query on its own: a C-FIND identifier in, the ORM condition and
the answer's shape out, without a network or a database."""

import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Q
from pydicom.dataset import Dataset

from worklist.dicom import query
from worklist.dicom.query import InvalidQuery, translate

from .conftest import mwl_query

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR")

BERLIN = ZoneInfo("Europe/Berlin")


def conditions(q: Q) -> list:
    """The (lookup, value) leaves of a Q, flattened."""
    found = []
    for child in q.children:
        if isinstance(child, Q):
            found.extend(conditions(child))
        else:
            found.append(child)
    return found


def lookups(identifier, **kwargs) -> dict:
    leaves = conditions(translate(identifier, tz=BERLIN, **kwargs).where)
    return dict(leaf for leaf in leaves if isinstance(leaf, tuple))


def test_no_matching_key_offers_only_scheduled_steps():
    assert lookups(mwl_query(PatientName="", sps={})) == {
        "scheduled_procedure_step_status": "SCHEDULED"
    }


def test_a_status_in_the_query_replaces_the_scheduled_only_default():
    found = lookups(mwl_query(sps={"ScheduledProcedureStepStatus": "COMPLETED"}))
    assert found == {"scheduled_procedure_step_status": "COMPLETED"}


def test_a_wildcard_status_asks_for_every_status():
    assert lookups(mwl_query(sps={"ScheduledProcedureStepStatus": "*"})) == {}


def test_single_value_is_an_exact_match_on_the_mapped_field():
    found = lookups(mwl_query(AccessionNumber="A0001", sps={"Modality": "CT"}))
    assert found["requested_procedure__order__accession_number"] == "A0001"
    assert found["modality"] == "CT"


@pytest.mark.parametrize("value", ["", "*", "**", "   "])
def test_empty_or_star_alone_is_universal(value):
    assert "requested_procedure__order__accession_number" not in lookups(
        mwl_query(AccessionNumber=value)
    )


def test_leading_and_trailing_spaces_are_not_significant_for_short_strings():
    found = lookups(mwl_query(AccessionNumber=" A0001 "))
    assert found["requested_procedure__order__accession_number"] == "A0001"


def test_wildcard_becomes_a_like_pattern_with_sql_wildcards_escaped():
    assert query.like_pattern("A_1%*?\\") == "A\\_1\\%%_\\\\"
    assert query.glob_pattern("A[1]*?") == "A[[]1]*?"


def test_wildcard_key_uses_the_dicom_wildcard_lookup():
    where = translate(mwl_query(AccessionNumber="A00*"), tz=BERLIN).where
    wildcards = [c for c in conditions(where) if isinstance(c, query.DicomWildcard)]
    assert [w.rhs for w in wildcards] == ["A00*"]


def test_several_values_match_any_of_them():
    where = translate(mwl_query(sps={"Modality": ["CR", "DX"]}), tz=BERLIN).where
    assert ("modality", "CR") in conditions(where)
    assert ("modality", "DX") in conditions(where)


def test_list_of_uids():
    found = lookups(mwl_query(StudyInstanceUID=["1.2.3", "1.2.4"]))
    assert found["requested_procedure__study_instance_uid__in"] == ["1.2.3", "1.2.4"]


def test_a_uid_with_a_wildcard_cannot_be_processed():
    with pytest.raises(InvalidQuery) as failure:
        translate(mwl_query(StudyInstanceUID="1.2.*.4"), tz=BERLIN)
    assert failure.value.status == query.UNABLE_TO_PROCESS


def test_date_range_is_local_midnight_to_midnight():
    found = lookups(mwl_query(sps={"ScheduledProcedureStepStartDate": "20261124-20261125"}))
    assert found["start__gte"] == datetime(2026, 11, 24, tzinfo=BERLIN)
    assert found["start__lt"] == datetime(2026, 11, 26, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("value", "bounds"),
    [
        ("20261124-", {"start__gte"}),
        ("-20261124", {"start__lt"}),
        ("20261124", {"start__gte", "start__lt"}),
    ],
)
def test_open_date_ranges(value, bounds):
    found = lookups(mwl_query(sps={"ScheduledProcedureStepStartDate": value}))
    assert set(found) - {"scheduled_procedure_step_status"} == bounds


def test_date_and_time_ranges_combine_into_one_period():
    found = lookups(
        mwl_query(
            sps={
                "ScheduledProcedureStepStartDate": "20261124-20261125",
                "ScheduledProcedureStepStartTime": "2000-0800",
            }
        )
    )
    assert found["start__gte"] == datetime(2026, 11, 24, 20, 0, tzinfo=BERLIN)
    assert found["start__lte"] == datetime(2026, 11, 25, 8, 0, 59, 999999, tzinfo=BERLIN)


def test_date_and_time_of_different_forms_match_each_on_its_own():
    where = translate(
        mwl_query(
            sps={
                "ScheduledProcedureStepStartDate": "20261124",
                "ScheduledProcedureStepStartTime": "1200-",
            }
        ),
        tz=BERLIN,
    ).where
    found = dict(c for c in conditions(where) if isinstance(c, tuple))
    assert found["start__gte"] == datetime(2026, 11, 24, tzinfo=BERLIN)
    time_checks = [c for c in conditions(where) if not isinstance(c, tuple)]
    assert len(time_checks) == 1  # time of day, read in local time


def test_a_time_range_crossing_midnight_is_refused():
    with pytest.raises(InvalidQuery, match="midnight"):
        translate(mwl_query(sps={"ScheduledProcedureStepStartTime": "2200-0600"}), tz=BERLIN)


@pytest.mark.parametrize("text", ["2500", "1", "10h", "20261301", "2026-11-24"])
def test_impossible_dates_and_times_cannot_be_processed(text):
    with pytest.raises(InvalidQuery):
        translate(
            mwl_query(
                sps={"ScheduledProcedureStepStartDate": text}
                if len(text) > 4
                else {"ScheduledProcedureStepStartTime": text}
            ),
            tz=BERLIN,
        )


def test_a_range_ending_before_it_starts_cannot_be_processed():
    with pytest.raises(InvalidQuery, match="ends before"):
        translate(mwl_query(PatientBirthDate="19800101-19700101"), tz=BERLIN)


def test_datetime_key_range():
    found = lookups(
        mwl_query(sps={"ScheduledProcedureStepStartDateTime": "20261124080000-20261124120000"})
    )
    assert found["start__gte"] == datetime(2026, 11, 24, 8, tzinfo=BERLIN)
    assert found["start__lte"] == datetime(2026, 11, 24, 12, 0, 0, 999999, tzinfo=BERLIN)


def test_timezone_offset_from_utc_in_the_query_sets_midnight():
    identifier = mwl_query(sps={"ScheduledProcedureStepStartDate": "20261124"})
    identifier.TimezoneOffsetFromUTC = "-0500"
    found = lookups(identifier)
    assert found["start__gte"] == datetime(2026, 11, 24, tzinfo=timezone(-timedelta(hours=5)))


def test_patient_name_uses_the_indexed_folded_column_as_a_prefilter():
    found = lookups(mwl_query(PatientName="Müll*^J?rg"))
    assert found["requested_procedure__order__patient__patient_name_search__startswith"] == "MULL"


@pytest.mark.parametrize(
    ("query_value", "stored", "matches"),
    [
        ("VIVALDI^ANTONIO", "Vivaldi^Antonio", True),
        ("vivaldi^antonio", "Vivaldi^Antonio", True),
        ("VIVALDI^ANTONIO", "Vivaldi^Antonio^^", True),
        ("VIVALDI", "Vivaldi^Antonio", False),
        ("VIV*", "Vivaldi^Antonio", True),
        ("*^ANT?NIO", "Vivaldi^Antonio", True),
        ("MULLER^JORG", "Müller^Jörg", True),
        ("Müller^Jörg", "Muller^Jorg", True),
        ("YAMADA*", "Yamada^Tarou=山田^太郎=やまだ^たろう", True),
        ("=山田^太郎", "Yamada^Tarou=山田^太郎=やまだ^たろう", True),
        ("=山田*", "Yamada^Tarou=山田^太郎=やまだ^たろう", True),
        ("==やまだ^たろう", "Yamada^Tarou=山田^太郎=やまだ^たろう", True),
        ("=山本*", "Yamada^Tarou=山田^太郎=やまだ^たろう", False),
        ("=山田*", "Yamada^Tarou", False),
        ("YAMADA^TAROU=*", "Yamada^Tarou", True),
        ("O'BRIEN^S??N", "O'Brien^Sean", True),
        ("O'BRIEN^S?N*", "O'Brien^Sean", False),
        ("Smith^J.", "Smith^J.", True),
        ("Smith^J.", "Smith^Jo", False),
    ],
)
def test_person_name_matching_per_component_group(query_value, stored, matches):
    pattern = query.person_name_regex(query_value, accent_insensitive=True)
    assert (re.search(pattern, stored) is not None) is matches


def test_accents_count_when_accent_insensitivity_is_off():
    pattern = query.person_name_regex("MULLER", accent_insensitive=False)
    assert re.search(pattern, "Muller")
    assert not re.search(pattern, "Müller")
    assert re.search(query.person_name_regex("müller", accent_insensitive=False), "MÜLLER")


def test_code_sequence_item_keys_filter_steps_and_items():
    identifier = Dataset()
    code = Dataset()
    code.CodeValue = "CT*"
    code.CodingSchemeDesignator = "LOCAL"
    identifier.RequestedProcedureCodeSequence = [code]
    found = translate(identifier, tz=BERLIN)
    keep = found.item_filters["RequestedProcedureCodeSequence"]
    assert keep({"code_value": "CTHEAD", "coding_scheme_designator": "LOCAL"})
    assert not keep({"code_value": "CTHEAD", "coding_scheme_designator": "OTHER"})
    assert not keep({"code_value": "MRHEAD", "coding_scheme_designator": "LOCAL"})
    assert len(found.step_filters) == 1


def test_a_key_we_do_not_match_on_is_reported_as_unsupported():
    found = translate(mwl_query(PatientWeight="70", PatientName=""), tz=BERLIN)
    assert found.unsupported == ["PatientWeight"]
    assert found.pending_status == query.PENDING_OPTIONAL_KEYS_NOT_SUPPORTED


def test_unknown_keys_without_values_are_just_returned():
    found = translate(mwl_query(InstitutionName="", sps={}), tz=BERLIN)
    assert found.unsupported == []
    assert found.pending_status == query.PENDING


def test_two_items_in_the_step_sequence_do_not_fit_the_information_model():
    identifier = mwl_query(sps={"Modality": "CT"})
    identifier.ScheduledProcedureStepSequence.append(Dataset())
    with pytest.raises(InvalidQuery) as failure:
        translate(identifier, tz=BERLIN)
    assert failure.value.status == query.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS
    assert failure.value.offending == [0x00400100]


def test_a_sequence_key_sent_as_text_does_not_fit_the_information_model():
    identifier = Dataset()
    identifier.add_new(0x00400100, "LO", "CT")
    with pytest.raises(InvalidQuery) as failure:
        translate(identifier, tz=BERLIN)
    assert failure.value.status == query.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS


def test_the_matching_keys_are_summarised_for_the_audit():
    found = translate(
        mwl_query(PatientName="VIV*", PatientID="", sps={"ScheduledStationAETitle": "CT1"}),
        tz=BERLIN,
    )
    assert found.summary() == (
        "PatientName=VIV*; ScheduledProcedureStepSequence.ScheduledStationAETitle=CT1"
    )


def test_birth_date_range_matches_the_date_field():
    found = lookups(mwl_query(PatientBirthDate="19700101-19791231"))
    assert found["requested_procedure__order__patient__patient_birth_date__gte"] == date(1970, 1, 1)
    assert found["requested_procedure__order__patient__patient_birth_date__lte"] == date(
        1979, 12, 31
    )
