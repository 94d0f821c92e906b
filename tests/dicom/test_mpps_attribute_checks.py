"""The MPPS attribute rules of PS3.4 Table F.7.2-1, checked without a network: what
an N-CREATE must carry, what an N-SET may change, what COMPLETED needs, and what the
RIS reads from an instance."""

from datetime import UTC, datetime

import pytest
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from worklist.dicom import mpps_iod
from worklist.dicom.mpps_iod import Refusal

from .mpps_messages import code, n_create, n_set_completed, n_set_discontinued, series

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR")

STORED = mpps_iod.to_stored(n_create())


def refusal(check, *args) -> Refusal:
    with pytest.raises(Refusal) as caught:
        check(*args)
    return caught.value


def test_a_complete_n_create_passes():
    mpps_iod.check_create(n_create())


def test_a_missing_type_1_attribute_is_0120_naming_its_tag():
    attributes = n_create()
    del attributes.Modality
    refused = refusal(mpps_iod.check_create, attributes)
    assert refused.status == 0x0120
    assert refused.tags == [Tag(0x0008, 0x0060)]
    assert "Modality" in refused.comment


def test_a_missing_type_2_attribute_is_0120_too():
    attributes = n_create()
    del attributes.PerformedLocation
    del attributes.PatientSex
    refused = refusal(mpps_iod.check_create, attributes)
    assert refused.status == 0x0120
    assert set(refused.tags) == {Tag(0x0040, 0x0243), Tag(0x0010, 0x0040)}


def test_a_missing_attribute_inside_the_scheduled_step_item_is_named_with_its_path():
    attributes = n_create()
    del attributes.ScheduledStepAttributesSequence[0].StudyInstanceUID
    refused = refusal(mpps_iod.check_create, attributes)
    assert refused.status == 0x0120
    assert refused.tags == [Tag(0x0020, 0x000D)]
    assert "ScheduledStepAttributesSequence>StudyInstanceUID" in refused.comment


def test_an_empty_type_1_attribute_is_0121():
    attributes = n_create(PerformedProcedureStepID="")
    refused = refusal(mpps_iod.check_create, attributes)
    assert refused.status == 0x0121
    assert refused.tags == [Tag(0x0040, 0x0253)]


@pytest.mark.parametrize("status", ["COMPLETED", "DISCONTINUED", "STARTED"])
def test_an_n_create_not_in_progress_is_0106(status):
    refused = refusal(mpps_iod.check_create, n_create(PerformedProcedureStepStatus=status))
    assert refused.status == 0x0106
    assert refused.tags == [Tag(0x0040, 0x0252)]


@pytest.mark.parametrize(
    "keyword, value",
    [
        ("PerformedProcedureStepStartDate", "20261332"),
        ("PerformedProcedureStepStartDate", "20260230"),
        ("PerformedProcedureStepStartTime", "256100"),
        ("PerformedStationAETitle", "A" * 17),
        ("PerformedProcedureStepID", "X" * 17),
    ],
)
def test_a_value_outside_its_vr_is_0106(keyword, value):
    refused = refusal(mpps_iod.check_create, n_create(**{keyword: value}))
    assert refused.status == 0x0106
    assert keyword in refused.comment


def test_a_code_item_without_its_meaning_is_refused_where_the_meaning_is_mandatory():
    reason = Dataset()
    reason.CodeValue = "110514"
    reason.CodingSchemeDesignator = "DCM"
    attributes = n_create(PerformedProcedureStepDiscontinuationReasonCodeSequence=[reason])
    refused = refusal(mpps_iod.check_create, attributes)
    assert refused.status == 0x0120
    assert refused.tags == [Tag(0x0008, 0x0104)]


def test_an_n_set_may_not_change_what_the_table_does_not_allow():
    stored = mpps_iod.to_stored(n_create())
    refused = refusal(mpps_iod.check_set, _set(Modality="MR", PatientID="OTHER"), stored)
    assert refused.status == 0x0105
    assert set(refused.tags) == {Tag(0x0008, 0x0060), Tag(0x0010, 0x0020)}


def test_an_n_set_repeating_a_not_allowed_attribute_with_its_stored_value_passes():
    stored = mpps_iod.to_stored(n_create())
    mpps_iod.check_set(_set(Modality="CT", PerformedProcedureStepStatus="IN PROGRESS"), stored)


def test_an_n_set_with_an_unknown_status_is_0106():
    refused = refusal(mpps_iod.check_set, _set(PerformedProcedureStepStatus="DONE"), STORED)
    assert refused.status == 0x0106


def test_an_n_set_emptying_the_status_is_0121():
    refused = refusal(mpps_iod.check_set, _set(PerformedProcedureStepStatus=""), STORED)
    assert refused.status == 0x0121


def test_a_series_sent_by_n_set_needs_its_protocol_name_and_uid():
    incomplete = series()
    incomplete.ProtocolName = ""
    refused = refusal(mpps_iod.check_set, _set(PerformedSeriesSequence=[incomplete]), STORED)
    assert refused.status == 0x0121
    assert refused.tags == [Tag(0x0018, 0x1030)]


def test_completed_needs_a_performed_series():
    merged = mpps_iod.merged(n_create(), n_set_completed())
    merged.PerformedSeriesSequence = []
    refused = refusal(mpps_iod.check_final_state, merged)
    assert refused.status == 0x0121
    assert refused.tags == [Tag(0x0040, 0x0340)]


def test_completed_needs_the_end_date_and_time():
    update = n_set_completed()
    del update.PerformedProcedureStepEndTime
    refused = refusal(mpps_iod.check_final_state, mpps_iod.merged(n_create(), update))
    assert refused.tags == [Tag(0x0040, 0x0251)]


def test_discontinued_without_any_series_is_accepted():
    mpps_iod.check_final_state(mpps_iod.merged(n_create(), n_set_discontinued()))


def test_the_columns_read_times_series_counts_codes_and_dose():
    attributes = mpps_iod.merged(
        n_create(TimezoneOffsetFromUTC="+0100"),
        n_set_completed(series(images=4, protocol="Head", operator="Tech^Tina")),
    )
    attributes.ImageAndFluoroscopyAreaDoseProduct = "12.5"
    attributes.TotalNumberOfExposures = 4
    attributes.ProcedureCodeSequence = [code("CTHEAD", "LOCAL", "CT head")]
    columns = mpps_iod.columns(attributes)
    assert columns["start"] == datetime(2026, 11, 25, 8, 15, tzinfo=UTC)
    assert columns["end"] == datetime(2026, 11, 25, 8, 30, tzinfo=UTC)
    assert columns["performed_procedure_step_status"] == "COMPLETED"
    [performed] = columns["performed_series_sequence"]
    assert performed["number_of_images"] == 4
    assert performed["protocol_name"] == "Head"
    assert performed["operators_name"] == "Tech^Tina"
    assert columns["procedure_code_sequence"] == [
        {"code_value": "CTHEAD", "coding_scheme_designator": "LOCAL", "code_meaning": "CT head"}
    ]
    assert columns["radiation_dose"] == {
        "TotalNumberOfExposures": 4,
        "ImageAndFluoroscopyAreaDoseProduct": 12.5,
    }


def test_the_stored_instance_round_trips_and_keeps_non_ascii_names():
    attributes = n_create(PatientName="Müller^Jürgen")
    attributes.SpecificCharacterSet = "ISO_IR 100"
    restored = mpps_iod.from_stored(mpps_iod.to_stored(attributes))
    assert str(restored.PatientName) == "Müller^Jürgen"
    assert mpps_iod.to_stored(restored) == mpps_iod.to_stored(attributes)


def test_the_scheduled_step_references_skip_empty_items():
    attributes = n_create()
    attributes.ScheduledStepAttributesSequence[0].StudyInstanceUID = "1.2.3"
    references = mpps_iod.scheduled_step_references(attributes)
    assert references == [mpps_iod.StepReference(study_instance_uid="1.2.3")]


def _set(**attributes) -> Dataset:
    ds = Dataset()
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def test_an_n_set_is_merged_key_by_key_and_changes_only_its_columns():
    stored = mpps_iod.to_stored(n_create(TimezoneOffsetFromUTC="+0100"))
    modification = mpps_iod.Modification(n_set_completed(series(images=2, protocol="Head")))
    assert modification.changes(stored)
    revision = modification.applied_to(stored)
    assert set(revision.columns) == {
        "performed_procedure_step_status",
        "end",
        "performed_series_sequence",
    }
    assert revision.columns["end"] == datetime(2026, 11, 25, 8, 30, tzinfo=UTC)
    assert revision.columns["performed_series_sequence"][0]["number_of_images"] == 2
    assert revision.attributes["00400252"] == {"vr": "CS", "Value": ["COMPLETED"]}
    assert revision.attributes["00100020"] == stored["00100020"]
    assert revision.attributes["00080005"] == {"vr": "CS", "Value": ["ISO_IR 192"]}


def test_an_n_set_sent_again_changes_nothing():
    update = n_set_completed()
    stored = mpps_iod.Modification(update).applied_to(STORED).attributes
    assert not mpps_iod.Modification(update).changes(stored)


def test_completing_reads_a_series_sent_by_an_earlier_n_set():
    first = _set(PerformedSeriesSequence=[series(protocol="Early")])
    stored = mpps_iod.Modification(first).applied_to(STORED).attributes
    done = _set(
        PerformedProcedureStepStatus="COMPLETED",
        PerformedProcedureStepEndDate="20261125",
        PerformedProcedureStepEndTime="093000",
    )
    revision = mpps_iod.Modification(done).applied_to(stored)
    assert revision.columns["performed_procedure_step_status"] == "COMPLETED"
    assert "performed_series_sequence" not in revision.columns


def test_a_time_zone_offset_sent_later_moves_start_and_end():
    revision = mpps_iod.Modification(_set(TimezoneOffsetFromUTC="-0500")).applied_to(STORED)
    assert revision.columns["start"] == datetime(2026, 11, 25, 14, 15, tzinfo=UTC)
