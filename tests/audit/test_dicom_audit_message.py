"""Events exported as DICOM audit messages (PS3.15 A.5.1)."""

import xml.etree.ElementTree as ET

import pytest

from audit import dicom_xml, services
from audit.codes import Action, ObjectKind, Outcome, Verb
from audit.models import Event
from worklist import audit_subjects

from .conftest import record_as

pytestmark = pytest.mark.django_db


class FakeOrder:
    accession_number = "A0001"

    class requested_procedures:  # noqa: N801 - stands in for the related manager
        @staticmethod
        def all():
            return [type("RP", (), {"study_instance_uid": "1.2.3.4"})()]


def parsed(event) -> ET.Element:
    return ET.fromstring(dicom_xml.message_text(Event.objects.get(seq=event.seq)))  # noqa: S314


def test_event_identification_carries_the_dcm_codes(scheduler):
    event = record_as(
        scheduler, Action.ORDER_RECORD, verb=Verb.CREATE, patients=[("AV35674", "HOSP")]
    )
    message = parsed(event)
    identification = message.find("EventIdentification")
    assert identification.get("EventActionCode") == "C"
    assert identification.get("EventOutcomeIndicator") == "0"
    assert identification.get("EventDateTime").endswith("+00:00")
    event_id = identification.find("EventID")
    assert event_id.attrib == {
        "csd-code": "110109",
        "codeSystemName": "DCM",
        "originalText": "Order Record",
    }


def test_the_user_is_the_requestor_with_address_and_role(scheduler):
    message = parsed(record_as(scheduler, Action.PATIENT_RECORD, patients=[("P1", "")]))
    requestor, ris = message.findall("ActiveParticipant")
    assert requestor.get("UserID") == "alice"
    assert requestor.get("UserIsRequestor") == "true"
    assert requestor.get("NetworkAccessPointID") == "10.1.2.3"
    assert requestor.get("NetworkAccessPointTypeCode") == "2"
    assert [r.get("originalText") for r in requestor.findall("RoleIDCode")] == ["scheduler"]
    assert ris.get("UserIsRequestor") == "false"
    assert ris.find("RoleIDCode").get("csd-code") == "110152"
    assert message.find("AuditSourceIdentification").get("AuditSourceID") == "RIS"


def test_patient_study_and_accession_are_participant_objects(scheduler):
    event = record_as(
        scheduler,
        Action.ORDER_RECORD,
        verb=Verb.CREATE,
        patients=[("AV35674", "HOSP")],
        objects=audit_subjects.order_objects(FakeOrder),
    )
    objects = parsed(event).findall("ParticipantObjectIdentification")
    patient, study = objects
    assert patient.get("ParticipantObjectID") == "AV35674^^^HOSP"
    assert (
        patient.get("ParticipantObjectTypeCode"),
        patient.get("ParticipantObjectTypeCodeRole"),
    ) == ("1", "1")
    assert patient.find("ParticipantObjectIDTypeCode").get("originalText") == "Patient Number"
    assert study.get("ParticipantObjectID") == "1.2.3.4"
    assert study.find("ParticipantObjectIDTypeCode").get("csd-code") == "110180"
    assert study.find("ParticipantObjectDescription/Accession").get("Number") == "A0001"


def test_a_failure_carries_its_description():
    event = services.record(
        Action.SECURITY_ALERT, verb=Verb.EXECUTE, outcome=Outcome.MINOR_FAILURE, detail="denied"
    )
    identification = parsed(event).find("EventIdentification")
    assert identification.get("EventOutcomeIndicator") == "4"
    assert identification.find("EventOutcomeDescription").text == "denied"


def test_security_objects_name_the_user_changed():
    event = services.record(
        Action.SECURITY_ALERT, verb=Verb.UPDATE, objects=[(ObjectKind.USER, "bob")]
    )
    [user] = parsed(event).findall("ParticipantObjectIdentification")
    assert user.get("ParticipantObjectID") == "bob"
    assert user.find("ParticipantObjectIDTypeCode").get("originalText") == "User Identifier"


def test_an_export_document_holds_one_message_per_event():
    made = [services.record(Action.PATIENT_RECORD, patients=[(f"P{i}", "")]) for i in range(3)]
    events = Event.objects.filter(seq__in=[e.seq for e in made]).order_by("seq")
    root = ET.fromstring("".join(dicom_xml.document(events)))  # noqa: S314 - our own XML
    assert root.tag == "AuditMessages"
    assert len(root.findall("AuditMessage")) == 3
