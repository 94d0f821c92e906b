"""The audit vocabulary: DICOM PS3.15 A.5 codes, spelled as the standard spells them.

An event's `action` is its EventID (CID 400, coding scheme DCM), `event_action_code`
the EventActionCode (C, R, U, D, E), `event_outcome_indicator` the
EventOutcomeIndicator (0, 4, 8, 12) and `event_type_code` an optional EventTypeCode.
"""

from django.db import models


class Action(models.TextChoices):
    """EventID (DCM codes of CID 400 "Audit Event ID")."""

    APPLICATION_ACTIVITY = "110100", "Application Activity"
    AUDIT_LOG_USED = "110101", "Audit Log Used"
    BEGIN_TRANSFERRING = "110102", "Begin Transferring DICOM Instances"
    INSTANCES_ACCESSED = "110103", "DICOM Instances Accessed"
    INSTANCES_TRANSFERRED = "110104", "DICOM Instances Transferred"
    STUDY_DELETED = "110105", "DICOM Study Deleted"
    EXPORT = "110106", "Export"
    IMPORT = "110107", "Import"
    NETWORK_ENTRY = "110108", "Network Entry"
    ORDER_RECORD = "110109", "Order Record"
    PATIENT_RECORD = "110110", "Patient Record"
    PROCEDURE_RECORD = "110111", "Procedure Record"
    QUERY = "110112", "Query"
    SECURITY_ALERT = "110113", "Security Alert"
    USER_AUTHENTICATION = "110114", "User Authentication"

    @classmethod
    def parse(cls, value: str) -> "Action | None":
        """An action named by its code ("110110") or its meaning ("Patient Record",
        any case), as a person or an integration would type it."""
        value = value.strip()
        for action in cls:
            if value == action.value or value.lower() == action.label.lower():
                return action
        return None


class Verb(models.TextChoices):
    """EventActionCode."""

    CREATE = "C", "Create"
    READ = "R", "Read"
    UPDATE = "U", "Update"
    DELETE = "D", "Delete"
    EXECUTE = "E", "Execute"


class Outcome(models.IntegerChoices):
    """EventOutcomeIndicator."""

    SUCCESS = 0, "Success"
    MINOR_FAILURE = 4, "Minor failure"
    SERIOUS_FAILURE = 8, "Serious failure"
    MAJOR_FAILURE = 12, "Major failure"


class EventType(models.TextChoices):
    """EventTypeCode values used here (DCM codes of CID 401, 402 and 403)."""

    LOGIN = "110122", "Login"
    LOGOUT = "110123", "Logout"
    USE_OF_RESTRICTED_FUNCTION = "110132", "Use of Restricted Function"
    AUDIT_RECORDING_STARTED = "110134", "Audit Recording Started"
    SECURITY_ROLES_CHANGED = "110136", "Security Roles Changed"
    USER_SECURITY_ATTRIBUTES_CHANGED = "110137", "User security Attributes Changed"


class Channel(models.TextChoices):
    """How the actor reached the RIS."""

    WEB = "web", "Web pages"
    API = "api", "REST API"
    ADMIN = "admin", "Admin"
    DICOM = "dicom", "DICOM"
    HL7 = "hl7", "HL7"
    COMMAND = "command", "Management command"
    TASK = "task", "Scheduled task"
    UNKNOWN = "unknown", "Unattributed"


class ObjectKind(models.TextChoices):
    """The kinds of object an event names besides patients."""

    ACCESSION_NUMBER = "accession_number", "Accession number"
    STUDY_INSTANCE_UID = "study_instance_uid", "Study Instance UID"
    SCHEDULED_PROCEDURE_STEP_ID = "scheduled_procedure_step_id", "Scheduled procedure step"
    SOP_INSTANCE_UID = "sop_instance_uid", "SOP Instance UID"
    USER = "user", "User"
    GROUP = "group", "Group"
    PERMISSION = "permission", "Permission"
