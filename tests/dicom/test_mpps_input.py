"""Hostile or broken MPPS input (issue 12): NUL and control characters, values far
beyond their VR, absurd collection sizes and attribute lists that cannot be read are
refused with a DIMSE status naming the attribute, audited, logged in one line without
a traceback, and nothing is stored. The handlers are driven without a socket, with
their collaborators passed in (mpps.Receiver)."""

import logging
from types import SimpleNamespace

import pytest
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import generate_uid

from audit.codes import Action, Outcome
from audit.models import Event
from tests.factories import book_step, future_day, local, station
from worklist.dicom import mpps, mpps_iod, policy
from worklist.models import PerformedProcedureStep

from .mpps_messages import n_create, n_set_completed, series, step_attributes

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore:Invalid value for VR", "ignore:The value length"),
]


@pytest.fixture
def ct1(mwl_settings):
    return station("CT1")


def assoc(ct1, ae_title="CT1"):
    requestor = SimpleNamespace(ae_title=ae_title, address="192.0.2.7", port=40001)
    access = policy.Access(calling_ae=ae_title, stations=(ct1,))
    return SimpleNamespace(requestor=requestor, **{policy.ACCESS: access})


class Unreadable:
    """An attribute list whose bytes pydicom cannot decode."""

    def decode(self):
        raise ValueError("Unable to decode the data set\nat offset 12")

    def get(self, *args):
        raise ValueError("Unable to decode the data set")


def create(ct1, attributes, uid=None):
    event = SimpleNamespace(
        assoc=assoc(ct1),
        request=SimpleNamespace(AffectedSOPInstanceUID=uid or generate_uid()),
        attribute_list=attributes,
    )
    status, _ = mpps.handle_create(event)
    return status if isinstance(status, Dataset) else SimpleNamespace(Status=status)


def set_(ct1, uid, modifications):
    event = SimpleNamespace(
        assoc=assoc(ct1),
        request=SimpleNamespace(RequestedSOPInstanceUID=uid),
        modification_list=modifications,
    )
    status, _ = mpps.handle_set(event)
    return status if isinstance(status, Dataset) else SimpleNamespace(Status=status)


def refused_events():
    return list(
        Event.objects.filter(
            action=Action.PROCEDURE_RECORD, event_outcome_indicator__gt=Outcome.SUCCESS
        )
    )


def test_a_nul_byte_in_an_attribute_is_0106_naming_it(ct1):
    status = create(ct1, n_create(book_step(), PerformedLocation="Radio\x00logy"))
    assert status.Status == 0x0106
    assert "PerformedLocation" in status.ErrorComment
    assert Tag(status.AttributeIdentifierList) == Tag(0x0040, 0x0243)
    assert not PerformedProcedureStep.objects.exists()
    assert len(refused_events()) == 1


def test_a_nul_byte_in_an_n_set_is_0106(ct1):
    uid = generate_uid()
    assert create(ct1, n_create(book_step()), uid=uid).Status == 0x0000
    status = set_(ct1, uid, n_set_completed(CommentsOnThePerformedProcedureStep="a\x00b"))
    assert status.Status == 0x0106
    assert "CommentsOnThePerformedProcedureStep" in status.ErrorComment
    assert PerformedProcedureStep.objects.get().performed_procedure_step_status == "IN PROGRESS"


def test_control_characters_are_refused_but_line_breaks_in_long_text_pass(ct1):
    assert create(ct1, n_create(book_step(), PatientName="Doe\x07^John")).Status == 0x0106
    comments = "Patient moved.\r\nRepeated series 2."
    status = create(
        ct1,
        n_create(
            book_step(start=local(future_day(), 10)), CommentsOnThePerformedProcedureStep=comments
        ),
    )
    assert status.Status == 0x0000


def test_a_value_far_beyond_its_vr_is_0106_naming_it(ct1):
    status = create(ct1, n_create(book_step(), PatientName="A" * 5000))
    assert status.Status == 0x0106
    assert status.ErrorComment.startswith("Invalid PatientName")
    assert Tag(status.AttributeIdentifierList) == Tag(0x0010, 0x0010)


def test_an_unlimited_text_beyond_the_bound_is_0106(ct1):
    status = create(ct1, n_create(book_step(), CommentsOnThePerformedProcedureStep="x" * 70000))
    assert status.Status == 0x0106
    assert "CommentsOnThePerformedProcedureStep" in status.ErrorComment


def test_thousands_of_scheduled_step_items_are_refused(ct1):
    attributes = n_create(book_step())
    attributes.ScheduledStepAttributesSequence = [step_attributes() for _ in range(2000)]
    status = create(ct1, attributes)
    assert status.Status == 0x0106
    assert "ScheduledStepAttributesSequence: more than 100 items" in status.ErrorComment


def test_thousands_of_performed_series_are_refused_in_an_n_set(ct1):
    uid = generate_uid()
    assert create(ct1, n_create(book_step()), uid=uid).Status == 0x0000
    update = n_set_completed(*[series(images=0) for _ in range(1001)])
    status = set_(ct1, uid, update)
    assert status.Status == 0x0106
    assert "PerformedSeriesSequence: more than 1000" in status.ErrorComment


def test_sequences_nested_without_end_are_refused(ct1):
    attributes = n_create(book_step())
    item = attributes.ScheduledStepAttributesSequence[0]
    for _ in range(6):
        outer = Dataset()
        outer.ReferencedStudySequence = [item]
        item = outer
    attributes.ScheduledStepAttributesSequence = [item]
    assert create(ct1, attributes).Status == 0x0106


def test_an_unreadable_attribute_list_is_refused_audited_and_logged_once(ct1, caplog):
    caplog.set_level(logging.INFO)
    uid = generate_uid()
    status = create(ct1, Unreadable(), uid=uid)
    assert status.Status == 0x0110
    assert "Cannot read the attribute_list" in status.ErrorComment
    (event,) = refused_events()
    assert event.ae_title == "CT1"
    assert ["sop_instance_uid", uid] in event.participant_objects
    records = [r for r in caplog.records if r.name.startswith("worklist")]
    assert len(records) == 1
    assert records[0].exc_info is None
    assert "\n" not in records[0].getMessage()


def test_a_refusal_of_the_service_is_audited_once_with_the_patient(ct1):
    step = book_step(patient_id="AV35674")
    uid = generate_uid()
    assert create(ct1, n_create(step), uid=uid).Status == 0x0000
    status = create(ct1, n_create(step, PerformedProcedureStepID="OTHER"), uid=uid)
    assert status.Status == 0x0111
    (event,) = refused_events()
    assert [p.patient_id for p in event.patients.all()] == ["AV35674"]


def test_a_caller_granted_nothing_is_0124(ct1):
    event = SimpleNamespace(
        assoc=SimpleNamespace(requestor=assoc(ct1).requestor),
        request=SimpleNamespace(AffectedSOPInstanceUID=generate_uid()),
        attribute_list=n_create(book_step()),
    )
    status, _ = mpps.handle_create(event)
    assert status.Status == 0x0124
    assert len(refused_events()) == 1


def test_the_handler_calls_the_collaborators_it_is_given():
    """No database, no socket: a fake service sees the plain input and the scope."""
    calls = []

    def create_step(**kwargs):
        calls.append(kwargs)
        raise mpps_iod.Refusal(0x0110, "refused by the fake")

    receiver = mpps.Receiver(
        create=create_step,
        access=lambda assoc: policy.Access(calling_ae="CT1", stations=()),
    )
    event = SimpleNamespace(
        assoc=SimpleNamespace(
            requestor=SimpleNamespace(ae_title="CT1", address="192.0.2.7", port=1)
        ),
        request=SimpleNamespace(AffectedSOPInstanceUID="1.2.3"),
        attribute_list=n_create(),
    )
    status, _ = mpps._create(event, receiver)
    assert status.Status == 0x0110
    [call] = calls
    assert call["stations"] == frozenset()
    assert call["calling_ae_title"] == "CT1"
    assert call["report"].columns["performed_station_ae_title"] == "CT1"
    assert "00100010" in call["report"].attributes


def test_an_unreadable_modification_list_is_refused_and_audited(ct1):
    uid = generate_uid()
    assert create(ct1, n_create(book_step()), uid=uid).Status == 0x0000
    status = set_(ct1, uid, Unreadable())
    assert status.Status == 0x0110
    (event,) = refused_events()
    assert "N-SET" in event.detail
    assert PerformedProcedureStep.objects.get().performed_procedure_step_status == "IN PROGRESS"


def test_garbage_sent_as_the_attribute_list_is_one_log_line_over_the_wire(
    dicom_port, monkeypatch, caplog
):
    """A real association: the bytes of the attribute list are not a data set."""
    from pynetdicom import association
    from pynetdicom.sop_class import ModalityPerformedProcedureStep

    from .conftest import associate

    station("CT1")
    modality = associate(dicom_port, calling_ae="CT1", contexts=(ModalityPerformedProcedureStep,))
    assert modality.is_established
    real = association.encode
    # An item tag where an element should be: no VR, nothing pydicom can decode.
    garbage = b"\xfe\xff\x00\xe0\x08\x00\x00\x00garbage!!"
    monkeypatch.setattr(association, "encode", lambda ds, *args: garbage)
    caplog.set_level(logging.INFO)
    try:
        status, _ = modality.send_n_create(Dataset(), ModalityPerformedProcedureStep, "1.2.3.4")
        monkeypatch.setattr(association, "encode", real)
        assert status.Status == 0x0110
        assert "Cannot read the attribute_list" in status.ErrorComment
        assert modality.is_established
        status, _ = modality.send_n_create(
            n_create(book_step()), ModalityPerformedProcedureStep, generate_uid()
        )
        assert status.Status == 0x0000
    finally:
        modality.release()
    assert len(refused_events()) == 1
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.name for r in problems] == ["worklist.dicom.mpps"]
    assert all(r.exc_info is None for r in caplog.records)
