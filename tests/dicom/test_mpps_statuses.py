"""Every MPPS failure a modality can meet, over the wire: the standard status, the
attributes at fault in Attribute Identifier List and Error Comment, nothing stored,
and the association still serving the next message."""

import pytest
from pydicom.tag import Tag
from pydicom.uid import generate_uid
from pynetdicom.sop_class import ModalityPerformedProcedureStep

from audit.codes import Action, Outcome
from audit.models import Event
from tests.factories import book_step, future_day, local, station
from worklist.models import PerformedProcedureStep, StepStatus

from .conftest import associate
from .mpps_messages import n_create, n_set_completed
from .test_mpps_lifecycle import Modality

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR", "ignore:The value length")

DAY = future_day(7)  # a day ahead: its bookings are all in the future

MPPS = ModalityPerformedProcedureStep


@pytest.fixture
def ct(dicom_port):
    station("CT1")
    modality = Modality(dicom_port, "CT1")
    yield modality
    modality.close()


def gateway(ae_title, *, stations):
    """A known modality granted the stations named (not a station itself)."""
    from worklist.models import Modality as KnownModality
    from worklist.models import Station
    from worklist.services.stations import modality_save

    return modality_save(
        modality=KnownModality(),
        ae_title=ae_title,
        stations=list(Station.objects.filter(scheduled_station_ae_title__in=stations)),
    )


def identifiers(status) -> list:
    value = status.get("AttributeIdentifierList")
    if value is None:
        return []
    return [Tag(v) for v in value] if isinstance(value, list) else [Tag(value)]


def still_serving(ct, step=None) -> None:
    """The same association accepts a correct N-CREATE after the refusal."""
    _, status, _ = ct.create(n_create(step or book_step(start=local(DAY, 11))))
    assert status.Status == 0x0000


def test_a_missing_required_attribute_is_0120_with_its_tag(ct):
    step = book_step()
    attributes = n_create(step)
    del attributes.PerformedStationAETitle
    _, status, _ = ct.create(attributes)
    assert status.Status == 0x0120
    assert identifiers(status) == [Tag(0x0040, 0x0241)]
    assert "PerformedStationAETitle" in status.ErrorComment
    assert not PerformedProcedureStep.objects.exists()
    step.refresh_from_db()
    assert step.scheduled_procedure_step_status == StepStatus.SCHEDULED
    still_serving(ct, step)


def test_a_required_attribute_without_value_is_0121(ct):
    _, status, _ = ct.create(n_create(book_step(), Modality=""))
    assert status.Status == 0x0121
    assert identifiers(status) == [Tag(0x0008, 0x0060)]
    still_serving(ct)


def test_an_n_create_not_in_progress_is_0106(ct):
    _, status, _ = ct.create(n_create(book_step(), PerformedProcedureStepStatus="COMPLETED"))
    assert status.Status == 0x0106
    assert identifiers(status) == [Tag(0x0040, 0x0252)]
    still_serving(ct)


def test_a_malformed_value_is_0106(ct):
    _, status, _ = ct.create(n_create(book_step(), PerformedProcedureStepStartDate="2026-11-25"))
    assert status.Status == 0x0106
    assert "PerformedProcedureStepStartDate" in status.ErrorComment
    still_serving(ct)


def test_a_used_instance_uid_with_other_content_is_0111(ct):
    step = book_step()
    uid, _, _ = ct.create(n_create(step))
    _, status, _ = ct.create(n_create(step, PerformedProcedureStepID="OTHER"), uid=uid)
    assert status.Status == 0x0111
    assert PerformedProcedureStep.objects.get().performed_procedure_step_id != "OTHER"
    still_serving(ct)


def test_the_same_instance_created_by_another_ae_is_0111(dicom_port, ct):
    gateway("CTGW", stations=["CT1"])
    step = book_step()
    attributes = n_create(step)
    uid, _, _ = ct.create(attributes)
    other = Modality(dicom_port, "CTGW")
    try:
        _, status, _ = other.create(attributes, uid=uid)
        assert status.Status == 0x0111
    finally:
        other.close()


def test_an_n_set_of_an_unknown_instance_is_0112(ct):
    assert ct.set(generate_uid(), n_set_completed()).Status == 0x0112
    still_serving(ct)


def test_an_n_set_after_completed_is_0110_with_error_id_a710(ct):
    step = book_step()
    uid, _, _ = ct.create(n_create(step))
    assert ct.set(uid, n_set_completed()).Status == 0x0000
    status = ct.set(uid, n_set_completed(end_time="100000"))
    assert status.Status == 0x0110
    assert status.ErrorID == 0xA710
    assert status.ErrorComment == "Performed Procedure Step Object may no longer be updated"
    assert PerformedProcedureStep.objects.get().end.minute == 30
    still_serving(ct)


def test_an_n_set_changing_what_may_not_be_set_is_0105(ct):
    step = book_step()
    uid, _, _ = ct.create(n_create(step))
    update = n_set_completed()
    update.PatientID = "SOMEONE-ELSE"
    status = ct.set(uid, update)
    assert status.Status == 0x0105
    assert identifiers(status) == [Tag(0x0010, 0x0020)]
    step.refresh_from_db()
    assert step.scheduled_procedure_step_status == StepStatus.IN_PROGRESS
    still_serving(ct)


def test_completed_without_performed_series_is_0121(ct):
    uid, _, _ = ct.create(n_create(book_step()))
    update = n_set_completed()
    update.PerformedSeriesSequence = []
    status = ct.set(uid, update)
    assert status.Status == 0x0121
    assert identifiers(status) == [Tag(0x0040, 0x0340)]
    still_serving(ct)


def test_an_invalid_instance_uid_is_0117(ct):
    _, status, _ = ct.create(n_create(book_step()), uid="1.2.03.x")
    assert status.Status == 0x0117
    still_serving(ct)


def test_a_refusal_is_audited_as_a_failure_naming_the_patient(ct):
    attributes = n_create(book_step(patient_id="AV35674"))
    del attributes.Modality
    ct.create(attributes)
    (event,) = Event.objects.filter(
        action=Action.PROCEDURE_RECORD, event_outcome_indicator=Outcome.MINOR_FAILURE
    )
    assert event.ae_title == "CT1"
    assert "0x0120" in event.detail
    assert [p.patient_id for p in event.patients.all()] == ["AV35674"]


def test_an_unknown_calling_ae_cannot_open_an_mpps_association(dicom_port):
    station("CT1")
    assoc = associate(dicom_port, calling_ae="STRANGER", contexts=(MPPS,))
    assert assoc.is_rejected


def test_after_completed_even_a_not_allowed_change_is_answered_0110(ct):
    uid, _, _ = ct.create(n_create(book_step()))
    assert ct.set(uid, n_set_completed()).Status == 0x0000
    update = n_set_completed()
    update.PatientID = "SOMEONE-ELSE"
    status = ct.set(uid, update)
    assert status.Status == 0x0110
    assert status.ErrorID == 0xA710
