"""Generated studies for the tests and the bench: pydicom-made instances with the
headers a modality writes (patient, study, series, equipment, image pixel), in
Latin-1 or UTF-8, written as DICOM files that DCMTK's storescu sends and dcmcjpls,
dcmcrle and dcmcjpeg compress."""

import subprocess
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom.sop_class import CTImageStorage, SecondaryCaptureImageStorage

ROOT = "1.2.826.0.1.3680043.10.1234."


@dataclass
class StudySpec:
    patient_id: str = "AV35674"
    issuer_of_patient_id: str = "HOSP"
    patient_name: str = "Vivaldi^Antonio"
    patient_birth_date: str = "19780304"
    patient_sex: str = "M"
    character_set: str = "ISO_IR 192"
    accession_number: str = "A0001"
    study_instance_uid: str = field(default_factory=lambda: generate_uid(prefix=ROOT))
    study_date: str = field(default_factory=lambda: date.today().strftime("%Y%m%d"))
    study_time: str = "091500"
    study_description: str = "CT head without contrast"
    modality: str = "CT"
    station_name: str = "CT1"
    series: tuple[int, ...] = (3,)  # instances per series
    rows: int = 64
    columns: int = 64
    bits: int = 16
    series_uids: list[str] = field(default_factory=list)

    def __post_init__(self):
        while len(self.series_uids) < len(self.series):
            self.series_uids.append(generate_uid(prefix=ROOT))


def instance(spec: StudySpec, series_index: int, number: int) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = spec.character_set
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage if spec.bits == 16 else SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid(prefix=ROOT)
    ds.StudyDate = spec.study_date
    ds.SeriesDate = spec.study_date
    ds.StudyTime = spec.study_time
    ds.SeriesTime = spec.study_time
    ds.AccessionNumber = spec.accession_number
    ds.Modality = spec.modality
    ds.Manufacturer = "RIS test rig"
    ds.InstitutionName = "Radiology B"
    ds.ReferringPhysicianName = "Smith^John"
    ds.StationName = spec.station_name
    ds.StudyDescription = spec.study_description
    ds.SeriesDescription = f"Series {series_index + 1}"
    ds.PatientName = spec.patient_name
    ds.PatientID = spec.patient_id
    ds.IssuerOfPatientID = spec.issuer_of_patient_id
    ds.PatientBirthDate = spec.patient_birth_date
    ds.PatientSex = spec.patient_sex
    ds.BodyPartExamined = "HEAD"
    ds.ProtocolName = "Head routine"
    ds.StudyInstanceUID = spec.study_instance_uid
    ds.SeriesInstanceUID = spec.series_uids[series_index]
    ds.StudyID = "1"
    ds.SeriesNumber = series_index + 1
    ds.InstanceNumber = number
    ds.PerformedProcedureStepID = "PPS1"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = spec.rows
    ds.Columns = spec.columns
    ds.BitsAllocated = spec.bits
    ds.BitsStored = 12 if spec.bits == 16 else 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    ds.WindowCenter = 40 if spec.bits == 16 else 128
    ds.WindowWidth = 400 if spec.bits == 16 else 256
    ds.PixelData = pixels(spec.rows, spec.columns, spec.bits, number)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def pixels(rows: int, columns: int, bits: int, seed: int) -> bytes:
    """A smooth gradient with a bright disc (compresses as a real image does)."""
    out = bytearray()
    limit = 4095 if bits == 16 else 255
    for r in range(rows):
        for c in range(columns):
            inside = (r - rows / 2) ** 2 + (c - columns / 2) ** 2 < (rows / 4) ** 2
            base = (r * 7 + c * 3 + seed * 11) % (limit // 2)
            value = min(limit, base + (limit // 2 if inside else 0))
            out += value.to_bytes(2, "little") if bits == 16 else bytes([value])
    return bytes(out)


def write_study(spec: StudySpec, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for series_index, count in enumerate(spec.series):
        for number in range(1, count + 1):
            ds = instance(spec, series_index, number)
            path = directory / f"{ds.SOPInstanceUID}.dcm"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
    return paths


def compress(path: Path, tool: str, *options: str) -> Path:
    """The file compressed by a DCMTK tool (dcmcjpls, dcmcrle, dcmcjpeg), in place."""
    target = path.with_suffix(".tmp")
    subprocess.run(
        [tool, *options, str(path), str(target)], check=True, capture_output=True, timeout=60
    )
    target.replace(path)
    return path


def storescu(
    storescu_path: str,
    port: int,
    paths: list[Path],
    *,
    calling: str = "CT1",
    called: str = "RIS",
    extra: tuple = (),
    timeout: float = 120,
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            storescu_path,
            "-aet",
            calling,
            "-aec",
            called,
            *extra,
            "127.0.0.1",
            str(port),
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def now_stamp() -> str:
    return datetime.now().strftime("%Y%m%d%H%M%S")


def short_uid() -> str:
    """A UID with room for a few more components (generate_uid may use all 64)."""
    import secrets

    return f"{ROOT}{secrets.randbelow(10**12)}"
