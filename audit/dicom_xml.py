"""Audit events as DICOM audit messages (PS3.15 A.5.1, the RFC 3881 based schema):
what `audit export`, the review UI's XML download and the syslog forwarder send."""

import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import UTC

from django.conf import settings

from . import conf
from .codes import Action, Channel, EventType, ObjectKind
from .models import Event

DCM = "DCM"
RFC3881 = "RFC-3881"
LOCAL = "99RIS"


def _code(parent, tag: str, code: str, scheme: str, meaning: str) -> ET.Element:
    return ET.SubElement(
        parent, tag, {"csd-code": code, "codeSystemName": scheme, "originalText": meaning}
    )


def _event_identification(message, event: Event) -> None:
    identification = ET.SubElement(
        message,
        "EventIdentification",
        {
            "EventActionCode": event.event_action_code,
            "EventDateTime": event.event_date_time.astimezone(UTC).isoformat(
                timespec="microseconds"
            ),
            "EventOutcomeIndicator": str(event.event_outcome_indicator),
        },
    )
    _code(identification, "EventID", event.action, DCM, Action(event.action).label)
    if event.event_type_code:
        try:
            meaning = EventType(event.event_type_code).label
        except ValueError:
            meaning = event.event_type_code
        _code(identification, "EventTypeCode", event.event_type_code, DCM, meaning)
    if event.event_outcome_indicator and event.detail:
        ET.SubElement(identification, "EventOutcomeDescription").text = event.detail


def _network_access_point(attributes: dict, address: str | None) -> dict:
    if address:
        attributes["NetworkAccessPointID"] = address
        attributes["NetworkAccessPointTypeCode"] = "2"
    return attributes


def _requestor(message, event: Event) -> None:
    if event.channel == Channel.DICOM:
        participant = ET.SubElement(
            message,
            "ActiveParticipant",
            _network_access_point(
                {"UserID": event.ae_title, "UserIsRequestor": "true", "UserTypeCode": "2"},
                event.source_ip,
            ),
        )
        _code(participant, "RoleIDCode", "110153", DCM, "Source Role ID")
        _code(participant, "UserIDTypeCode", "110119", DCM, "Station AE Title")
        return
    person = bool(event.username)
    participant = ET.SubElement(
        message,
        "ActiveParticipant",
        _network_access_point(
            {
                "UserID": event.username or event.detail or event.channel,
                "UserIsRequestor": "true",
                "UserTypeCode": "1" if person else "2",
            },
            event.source_ip,
        ),
    )
    for role in filter(None, (r.strip() for r in event.role.split(","))):
        _code(participant, "RoleIDCode", role, LOCAL, role)
    if person:
        _code(participant, "UserIDTypeCode", "113871", DCM, "Person ID")


def _ris_participant(message) -> None:
    participant = ET.SubElement(
        message,
        "ActiveParticipant",
        {
            "UserID": getattr(settings, "RIS_AE_TITLE", "RIS"),
            "UserIsRequestor": "false",
            "UserTypeCode": "2",
            "NetworkAccessPointID": socket.gethostname(),
            "NetworkAccessPointTypeCode": "1",
        },
    )
    _code(participant, "RoleIDCode", "110152", DCM, "Destination Role ID")


def _audit_source(message) -> None:
    attributes = {"AuditSourceID": conf.get("AUDIT_SOURCE_ID")}
    if conf.get("AUDIT_ENTERPRISE_SITE_ID"):
        attributes["AuditEnterpriseSiteID"] = conf.get("AUDIT_ENTERPRISE_SITE_ID")
    source = ET.SubElement(message, "AuditSourceIdentification", attributes)
    _code(source, "AuditSourceTypeCode", "4", DCM, "Application Server")


def _participant_object(message, object_id: str, type_code: str, role: str) -> ET.Element:
    return ET.SubElement(
        message,
        "ParticipantObjectIdentification",
        {
            "ParticipantObjectID": object_id,
            "ParticipantObjectTypeCode": type_code,
            "ParticipantObjectTypeCodeRole": role,
        },
    )


def patient_object_id(patient_id: str, issuer: str) -> str:
    """The CX form an audit repository expects: ID^^^Issuer."""
    return f"{patient_id}^^^{issuer}" if issuer else patient_id


def _studies(message, refs: list) -> None:
    """Study objects, each with the accession number that came before it in the
    event's references (how audit.refs lists an order: accession, then its studies)."""
    accession = ""
    paired = set()
    for kind, value in refs:
        if kind == ObjectKind.ACCESSION_NUMBER:
            accession = value
        elif kind == ObjectKind.STUDY_INSTANCE_UID:
            study = _participant_object(message, value, "2", "3")
            _code(study, "ParticipantObjectIDTypeCode", "110180", DCM, "Study Instance UID")
            if accession:
                description = ET.SubElement(study, "ParticipantObjectDescription")
                ET.SubElement(description, "Accession", {"Number": accession})
                paired.add(accession)
    for kind, value in refs:
        if kind == ObjectKind.ACCESSION_NUMBER and value not in paired:
            order = _participant_object(message, value, "2", "20")
            _code(order, "ParticipantObjectIDTypeCode", kind, LOCAL, "Accession Number")


OTHER_OBJECTS = {
    ObjectKind.USER: ("1", "6", "11", RFC3881, "User Identifier"),
    ObjectKind.GROUP: ("2", "13", ObjectKind.GROUP, LOCAL, "Security Role"),
    ObjectKind.PERMISSION: ("2", "13", ObjectKind.PERMISSION, LOCAL, "Permission"),
    ObjectKind.SCHEDULED_PROCEDURE_STEP_ID: (
        "2",
        "20",
        ObjectKind.SCHEDULED_PROCEDURE_STEP_ID,
        LOCAL,
        "Scheduled Procedure Step ID",
    ),
    ObjectKind.SOP_INSTANCE_UID: ("2", "3", "110181", DCM, "SOP Instance UID"),
}


def _other_objects(message, refs: list) -> None:
    for kind, value in refs:
        if kind in OTHER_OBJECTS:
            type_code, role, code, scheme, meaning = OTHER_OBJECTS[kind]
            element = _participant_object(message, value, type_code, role)
            _code(element, "ParticipantObjectIDTypeCode", code, scheme, meaning)


def audit_message(event: Event, patients: Iterable[tuple[str, str]]) -> ET.Element:
    message = ET.Element("AuditMessage")
    _event_identification(message, event)
    _requestor(message, event)
    _ris_participant(message)
    _audit_source(message)
    for patient_id, issuer in patients:
        patient = _participant_object(message, patient_object_id(patient_id, issuer), "1", "1")
        _code(patient, "ParticipantObjectIDTypeCode", "2", RFC3881, "Patient Number")
    _studies(message, event.participant_objects)
    _other_objects(message, event.participant_objects)
    return message


def _patients_of(event: Event) -> list[tuple[str, str]]:
    return [(p.patient_id, p.issuer_of_patient_id) for p in event.patients.all()]


def message_text(event: Event) -> str:
    """One AuditMessage, as sent over syslog."""
    return ET.tostring(audit_message(event, _patients_of(event)), encoding="unicode")


def document(events: Iterable[Event]) -> Iterable[str]:
    """A file of audit messages: an <AuditMessages> element holding one PS3.15
    AuditMessage per event, written piece by piece."""
    yield '<?xml version="1.0" encoding="UTF-8"?>\n<AuditMessages>\n'
    for event in events:
        yield message_text(event) + "\n"
    yield "</AuditMessages>\n"
