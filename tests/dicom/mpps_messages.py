"""MPPS attribute lists as a modality sends them (PS3.4 Table F.7.2-1), built from a
booked step or from nothing (an unscheduled exam), for the MPPS tests."""

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def code(value, scheme, meaning) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def step_attributes(step=None, **overrides) -> Dataset:
    """One Scheduled Step Attributes Sequence item naming `step` (or nothing)."""
    item = Dataset()
    if step is not None:
        procedure = step.requested_procedure
        item.StudyInstanceUID = procedure.study_instance_uid
        item.AccessionNumber = procedure.order.accession_number
        item.RequestedProcedureID = procedure.requested_procedure_id
        item.ScheduledProcedureStepID = step.scheduled_procedure_step_id
        item.RequestedProcedureDescription = procedure.requested_procedure_description
        item.ScheduledProcedureStepDescription = step.scheduled_procedure_step_description
    else:
        item.StudyInstanceUID = generate_uid()
        item.AccessionNumber = ""
        item.RequestedProcedureID = ""
        item.ScheduledProcedureStepID = ""
        item.RequestedProcedureDescription = ""
        item.ScheduledProcedureStepDescription = ""
    item.ReferencedStudySequence = []
    item.ScheduledProtocolCodeSequence = []
    for keyword, value in overrides.items():
        setattr(item, keyword, value)
    return item


def n_create(*steps, ae_title="CT1", modality="CT", patient=None, **overrides) -> Dataset:
    """An N-CREATE attribute list, IN PROGRESS, performing `steps` (none: unscheduled)."""
    ds = Dataset()
    ds.ScheduledStepAttributesSequence = [step_attributes(s) for s in steps] or [step_attributes()]
    if patient is None and steps:
        patient = steps[0].requested_procedure.order.patient
    ds.PatientName = patient.patient_name if patient else "Unknown^Walk-in"
    ds.PatientID = patient.patient_id if patient else "WALKIN1"
    ds.IssuerOfPatientID = patient.issuer_of_patient_id if patient else "HOSP"
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.ReferencedPatientSequence = []
    ds.PerformedProcedureStepID = "PPS" + generate_uid()[-8:]
    ds.PerformedStationAETitle = ae_title
    ds.PerformedStationName = ae_title
    ds.PerformedLocation = "Radiology"
    ds.PerformedProcedureStepStartDate = "20261125"
    ds.PerformedProcedureStepStartTime = "091500"
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedProcedureStepDescription = "CT head"
    ds.PerformedProcedureTypeDescription = ""
    ds.ProcedureCodeSequence = []
    ds.PerformedProcedureStepEndDate = ""
    ds.PerformedProcedureStepEndTime = ""
    ds.Modality = modality
    ds.StudyID = "1"
    ds.PerformedProtocolCodeSequence = []
    ds.PerformedSeriesSequence = []
    for keyword, value in overrides.items():
        setattr(ds, keyword, value)
    return ds


def series(*, images=3, protocol="Head routine", operator="Tech^Tina", uid=None) -> Dataset:
    item = Dataset()
    item.PerformingPhysicianName = "Jones^Ann"
    item.ProtocolName = protocol
    item.OperatorsName = operator
    item.SeriesInstanceUID = uid or generate_uid()
    item.SeriesDescription = "Axial 5mm"
    item.RetrieveAETitle = "PACS"
    references = []
    for _ in range(images):
        reference = Dataset()
        reference.ReferencedSOPClassUID = CT_IMAGE_STORAGE
        reference.ReferencedSOPInstanceUID = generate_uid()
        references.append(reference)
    item.ReferencedImageSequence = references
    item.ReferencedNonImageCompositeSOPInstanceSequence = []
    return item


def n_set_completed(*series_items, end_time="093000", **more) -> Dataset:
    ds = Dataset()
    ds.PerformedProcedureStepStatus = "COMPLETED"
    ds.PerformedProcedureStepEndDate = "20261125"
    ds.PerformedProcedureStepEndTime = end_time
    ds.PerformedSeriesSequence = list(series_items) or [series()]
    for keyword, value in more.items():
        setattr(ds, keyword, value)
    return ds


def n_set_discontinued(reason=("110514", "DCM", "Incorrect worklist entry selected")) -> Dataset:
    ds = Dataset()
    ds.PerformedProcedureStepStatus = "DISCONTINUED"
    ds.PerformedProcedureStepEndDate = "20261125"
    ds.PerformedProcedureStepEndTime = "092000"
    ds.PerformedProcedureStepDiscontinuationReasonCodeSequence = [code(*reason)]
    return ds


def create(attributes, *, uid=None, calling_ae_title="CT1", stations=None):
    """The service's N-CREATE, called as the handler calls it (no network)."""
    from worklist.dicom import mpps_iod
    from worklist.services import performed_steps

    return performed_steps.performed_step_create(
        sop_instance_uid=uid or generate_uid(),
        report=mpps_iod.read_create(attributes),
        calling_ae_title=calling_ae_title,
        stations=stations,
    )


def update(uid, modifications, *, calling_ae_title="CT1", stations=None):
    """The service's N-SET, called as the handler calls it (no network)."""
    from worklist.dicom import mpps_iod
    from worklist.services import performed_steps

    return performed_steps.performed_step_update(
        sop_instance_uid=uid,
        modification=mpps_iod.Modification(modifications),
        calling_ae_title=calling_ae_title,
        stations=stations,
    )
