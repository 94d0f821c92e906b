"""What an audit event names besides the patient, for the worklist's objects: the
extractors @audited selectors and services pass as `objects=` / `patient=`."""

from audit.codes import ObjectKind


def order_objects(order) -> list[tuple[str, str]]:
    """Accession number and the study UIDs of an imaging service request."""
    refs = [(ObjectKind.ACCESSION_NUMBER, order.accession_number)]
    refs += [
        (ObjectKind.STUDY_INSTANCE_UID, procedure.study_instance_uid)
        for procedure in order.requested_procedures.all()
    ]
    return refs


def step_patient(step):
    return step.requested_procedure.order.patient


def step_objects(step) -> list[tuple[str, str]]:
    procedure = step.requested_procedure
    return [
        (ObjectKind.SCHEDULED_PROCEDURE_STEP_ID, step.scheduled_procedure_step_id),
        (ObjectKind.ACCESSION_NUMBER, procedure.order.accession_number),
        (ObjectKind.STUDY_INSTANCE_UID, procedure.study_instance_uid),
    ]


def step_booking_objects(step) -> list[tuple[str, str]]:
    """Step and accession only: what a calendar page loads (its query defers the rest)."""
    return [
        (ObjectKind.SCHEDULED_PROCEDURE_STEP_ID, step.scheduled_procedure_step_id),
        (ObjectKind.ACCESSION_NUMBER, step.requested_procedure.order.accession_number),
    ]


def procedure_patient(requested_procedure):
    return requested_procedure.order.patient


def procedure_objects(requested_procedure) -> list[tuple[str, str]]:
    return [
        (ObjectKind.ACCESSION_NUMBER, requested_procedure.order.accession_number),
        (ObjectKind.STUDY_INSTANCE_UID, requested_procedure.study_instance_uid),
    ]


def performed_patient(performed_step):
    """The patient a performed procedure step is about: the record it was matched to,
    else the patient ID and issuer the modality sent."""
    if performed_step.matched_patient_id:
        return performed_step.matched_patient
    if performed_step.patient_id:
        return (performed_step.patient_id, performed_step.issuer_of_patient_id)
    return None


def performed_objects(performed_step) -> list[tuple[str, str]]:
    return [
        (ObjectKind.SOP_INSTANCE_UID, performed_step.sop_instance_uid),
        (ObjectKind.ACCESSION_NUMBER, performed_step.accession_number),
        (ObjectKind.STUDY_INSTANCE_UID, performed_step.study_instance_uid),
    ]


def study_patient(study):
    """The patient an event about an arrived study names: its order's when it has one,
    else the patient ID and issuer it arrived with."""
    if study.order_id:
        return study.order.patient
    if study.patient_id:
        return (study.patient_id, study.issuer_of_patient_id)
    return None


def study_objects(study) -> list[tuple[str, str]]:
    refs = [(ObjectKind.STUDY_INSTANCE_UID, study.study_instance_uid)]
    if study.accession_number:
        refs.append((ObjectKind.ACCESSION_NUMBER, study.accession_number))
    return refs
