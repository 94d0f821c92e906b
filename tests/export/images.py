"""Generated DICOM images for the export tests and the bench: CT images with the
identifying attributes a modality writes (patient, physicians, institution, station,
dates, UIDs, descriptions, a private block), and nothing read from outside."""

from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


@dataclass
class Source:
    """Who and what an image is of, as the RIS knows it."""

    patient_id: str = "AV35674"
    issuer: str = "HOSP"
    patient_name: str = "Vivaldi^Antonio"
    birth_date: str = "19780304"
    sex: str = "M"
    accession_number: str = "A0001"
    study_instance_uid: str = field(default_factory=generate_uid)
    series_instance_uid: str = field(default_factory=generate_uid)
    study_date: str = "20261125"
    study_time: str = "091500"


def ct_image(
    source: Source,
    *,
    instance_number: int = 1,
    rows: int = 64,
    columns: int = 64,
    burned_in: str | None = "NO",
    sop_class_uid: str = CT_IMAGE_STORAGE,
) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = generate_uid()
    ds.InstanceCreationDate = source.study_date
    ds.InstanceCreationTime = "093000"
    ds.StudyDate = source.study_date
    ds.SeriesDate = source.study_date
    ds.AcquisitionDate = source.study_date
    ds.ContentDate = source.study_date
    ds.StudyTime = source.study_time
    ds.SeriesTime = source.study_time
    ds.AcquisitionTime = "091612"
    ds.ContentTime = "091612"
    ds.AcquisitionDateTime = source.study_date + "091612.000000"
    ds.AccessionNumber = source.accession_number
    ds.Modality = "CT"
    ds.Manufacturer = "Generated"
    ds.InstitutionName = "Saint Mary Hospital"
    ds.InstitutionAddress = "1 Hospital Road, Springfield"
    ds.ReferringPhysicianName = "Smith^John"
    ds.StationName = "CTROOM1"
    ds.StudyDescription = f"CT head {source.patient_name.split('^')[0]}"
    ds.SeriesDescription = "Axial 5mm"
    ds.PerformingPhysicianName = "Jones^Ann"
    ds.OperatorsName = "Tech^Tom"
    ds.ManufacturerModelName = "Model 1"
    ds.DeviceSerialNumber = "SN123456"
    ds.PatientName = source.patient_name
    ds.PatientID = source.patient_id
    ds.IssuerOfPatientID = source.issuer
    ds.PatientBirthDate = source.birth_date
    ds.PatientSex = source.sex
    ds.PatientAge = "048Y"
    ds.PatientWeight = "72.5"
    ds.PatientSize = "1.80"
    ds.OtherPatientIDs = "OLD-" + source.patient_id
    ds.PatientAddress = "12 Music Street"
    ds.AdditionalPatientHistory = f"Seen {source.study_date} for headache, ID {source.patient_id}"
    ds.BodyPartExamined = "HEAD"
    ds.ProtocolName = "Head routine"
    ds.StudyInstanceUID = source.study_instance_uid
    ds.SeriesInstanceUID = source.series_instance_uid
    ds.FrameOfReferenceUID = generate_uid()
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = instance_number
    ds.ImageComments = f"{source.patient_name} {source.patient_id}"
    referenced = Dataset()
    referenced.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.3"
    referenced.ReferencedSOPInstanceUID = generate_uid()
    ds.ReferencedPerformedProcedureStepSequence = Sequence([referenced])
    request = Dataset()
    request.AccessionNumber = source.accession_number
    request.RequestedProcedureID = "RP0001"
    request.RequestedProcedureDescription = "CT head without contrast"
    request.StudyInstanceUID = source.study_instance_uid
    ds.RequestAttributesSequence = Sequence([request])
    if burned_in is not None:
        ds.BurnedInAnnotation = burned_in
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.PixelData = _pixels(rows, columns, instance_number)
    block = ds.private_block(0x0029, "ACME 1.0", create=True)
    block.add_new(0x10, "LO", source.patient_name)
    block.add_new(0x11, "DA", source.birth_date)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.SourceApplicationEntityTitle = "CTROOM1"
    return ds


def _pixels(rows: int, columns: int, seed: int) -> bytes:
    """A gradient, different per image (little endian 16-bit), without numpy."""
    line = bytearray()
    for x in range(columns):
        line += ((x * 7 + seed) % 4096).to_bytes(2, "little")
    return bytes(line) * rows


def write(ds: Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
