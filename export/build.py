"""Writing an export's ZIP, streamed: rows are read from query iterators and written
one at a time, tables go through temporary files beside the ZIP, images are read,
de-identified and written one by one; memory does not grow with the export's size.

Every row and image is a DICOM data set de-identified by the same engine with the
same project key, so a study has the same new Study Instance UID in the worklist
table, in the MPPS table and in its images.

Layout of the ZIP (all under `export-<id>/`):
  README.txt              what this is, the method, the counts
  manifest.json           the same as data, and every image left out with the reason
  worklist.csv|.json      one row per scheduled procedure step (its worklist item)
  performed_steps.csv|.json  one row per performed procedure step (MPPS)
  images/<pseudonym>/<study>/<series>/<instance>.dcm
"""

import csv
import hashlib
import io
import json
import os
import secrets
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from pydicom import dcmread
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from worklist.dicom import worklist_item
from worklist.dicom.worklist_item import PATIENT, WORKLIST_ITEM, Row

from . import selectors
from .deid import Option, Profile, Subject, deidentify, new_uid
from .deid.profile import resolve
from .models import Export

TABLE_VERSION = "DICOM PS3.15 2024e, Table E.1-1"
MPPS_SOP_CLASS = "1.2.840.10008.3.1.2.3.3"
CHUNK = 500
PROGRESS_SECONDS = 1.0

# The columns of the tables: DICOM keywords, "Sequence.Keyword" for the values in a
# sequence's items (several joined by a backslash, the DICOM value delimiter). A
# column the profile removes or empties for the options chosen is left out.
WORKLIST_COLUMNS = [
    "PatientID",
    "PatientSex",
    "PatientAge",
    "PatientWeight",
    "PatientSize",
    "PregnancyStatus",
    "MedicalAlerts",
    "Allergies",
    "SpecialNeeds",
    "AdditionalPatientHistory",
    "AccessionNumber",
    "StudyInstanceUID",
    "ReasonForTheRequestedProcedure",
    "ImagingServiceRequestComments",
    "RequestedProcedureDescription",
    "RequestedProcedureCodeSequence.CodeValue",
    "RequestedProcedureCodeSequence.CodingSchemeDesignator",
    "RequestedProcedureCodeSequence.CodeMeaning",
    "RequestedProcedurePriority",
    "ScheduledProcedureStepSequence.Modality",
    "ScheduledProcedureStepSequence.ScheduledProcedureStepStartDate",
    "ScheduledProcedureStepSequence.ScheduledProcedureStepStartTime",
    "ScheduledProcedureStepSequence.ScheduledProcedureStepEndDate",
    "ScheduledProcedureStepSequence.ScheduledProcedureStepEndTime",
    "ScheduledProcedureStepSequence.ScheduledProcedureStepDescription",
    "ScheduledProcedureStepSequence.ScheduledProtocolCodeSequence.CodeValue",
    "ScheduledProcedureStepSequence.ScheduledProcedureStepStatus",
    "ScheduledProcedureStepSequence.RequestedContrastAgent",
    "ScheduledProcedureStepSequence.PreMedication",
    "ScheduledProcedureStepSequence.ScheduledStationName",
]
PERFORMED_COLUMNS = [
    "PatientID",
    "PatientSex",
    "SOPInstanceUID",
    "ScheduledStepAttributesSequence.StudyInstanceUID",
    "ScheduledStepAttributesSequence.AccessionNumber",
    "Modality",
    "PerformedProcedureStepStatus",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
    "PerformedProcedureStepEndDate",
    "PerformedProcedureStepEndTime",
    "PerformedProcedureStepDescription",
    "PerformedProcedureTypeDescription",
    "ProcedureCodeSequence.CodeValue",
    "ProcedureCodeSequence.CodeMeaning",
    "PerformedProtocolCodeSequence.CodeValue",
    "PerformedProcedureStepDiscontinuationReasonCodeSequence.CodeValue",
    "PerformedSeriesSequence.SeriesInstanceUID",
    "PerformedSeriesSequence.SeriesDescription",
    "PerformedSeriesSequence.ProtocolName",
    "TotalTimeOfFluoroscopy",
    "EntranceDoseInmGy",
    "ImageAndFluoroscopyAreaDoseProduct",
]


@dataclass(frozen=True)
class ImageSource:
    """A stored instance to export, and the patient it belongs to in the RIS."""

    path: Path
    patient_id: str
    issuer_of_patient_id: str = ""


@dataclass
class Written:
    path: Path
    size: int
    sha256: str
    counts: dict

    def summary(self) -> str:
        return ", ".join(f"{value} {name.replace('_', ' ')}" for name, value in self.counts.items())


def columns_kept(columns: list[str], profile: Profile) -> list[str]:
    """The columns that carry something once de-identified: the pseudonym, and every
    attribute the table neither removes nor empties for these options (a sequence
    removed takes its columns with it)."""
    kept = []
    for column in columns:
        if column == "PatientID":
            kept.append(column)
            continue
        actions = []
        for keyword in column.split("."):
            tag = tag_for_keyword(keyword)
            action = profile.action(tag)
            if action is None and dictionary_VR(tag) in ("DA", "DT"):
                shifting = profile.has(Option.RETAIN_LONGITUDINAL_MODIFIED_DATES)
                action = "C" if shifting else "X"
            actions.append(resolve(action, tag) if action else "K")
        if not any(a in ("X", "Z") for a in actions):
            kept.append(column)
    return kept


def flat(dataset: Dataset, column: str) -> str:
    """The value of a column in a data set, as text."""
    return "\\".join(_values(dataset, column.split(".")))


def _values(dataset: Dataset, keywords: list[str]) -> list[str]:
    if keywords[0] not in dataset:
        return []
    value = dataset.data_element(keywords[0]).value
    if len(keywords) > 1:
        return [v for item in value or () for v in _values(item, keywords[1:])]
    if value is None or value == "":
        return []
    if isinstance(value, MultiValue | list):
        return [str(v) for v in value]
    return [str(value)]


def patient_age(born: date | None, on: date) -> str:
    """Patient's Age (AS) on a day, as a modality writes it: years, or months, weeks,
    days for the very young."""
    if born is None or on < born:
        return ""
    days = (on - born).days
    years = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    if years >= 2:
        return f"{min(years, 999):03d}Y"
    months = (on.year - born.year) * 12 + on.month - born.month - (on.day < born.day)
    if months >= 2:
        return f"{months:03d}M"
    return f"{days // 7:03d}W" if days >= 14 else f"{days:03d}D"


def _worklist_request() -> Dataset:
    """A worklist query asking for every attribute (each key empty, sequences with a
    zero-length item): the worklist item as a modality would get it."""
    request = Dataset()
    for keyword in WORKLIST_ITEM:
        tag = tag_for_keyword(keyword)
        vr = dictionary_VR(tag)
        request.add_new(tag, vr, Sequence() if vr == "SQ" else None)
    return request


class _Progress:
    def __init__(self, report: Callable[[int, int], None], total: int):
        self.report, self.total, self.done = report, total, 0
        self._last = 0.0
        report(0, total)

    def step(self) -> None:
        self.done += 1
        now = time.monotonic()
        if now - self._last >= PROGRESS_SECONDS:
            self._last = now
            self.report(self.done, self.total)


class Builder:
    """The de-identification context of one export and the writing of its parts."""

    def __init__(self, export: Export, progress: Callable[[int, int], None] | None = None):
        self.export = export
        self.profile = Profile(export.options)
        self.key = export.project.key
        self.subjects = {
            (p.patient_id, p.issuer_of_patient_id): Subject(p.pseudonym, p.date_shift_days)
            for p in export.subjects.all()
        }
        self.tz = timezone.get_default_timezone()
        self.root = f"export-{export.pk}"
        self.counts: Counter = Counter()
        self.left_out: list[dict] = []
        self.files: list[str] = []
        self._request = _worklist_request()
        self._report = progress or (lambda done, total: None)
        self.progress = _Progress(lambda d, t: None, 0)

    # --- the whole ZIP ------------------------------------------------------------

    def run(
        self,
        archive: zipfile.ZipFile,
        scratch: Path,
        images: Iterable[ImageSource] = (),
        image_total: int = 0,
    ):
        export = self.export
        steps = selectors.export_steps(export) if export.include_worklist else None
        performed = selectors.export_performed_steps(export) if export.include_performed else None
        total = (steps.count() if steps is not None else 0) + image_total
        total += performed.count() if performed is not None else 0
        self.progress = _Progress(self._report, total)
        self.counts["patients"] = len(self.subjects)
        if steps is not None:
            columns = steps.values_list(*worklist_item.query_columns())
            rows = (self.worklist_row(Row(v)) for v in columns.iterator(chunk_size=CHUNK))
            self.table(archive, scratch, "worklist", WORKLIST_COLUMNS, rows)
        if performed is not None:
            rows = (self.performed_row(p) for p in performed.iterator(chunk_size=CHUNK))
            self.table(archive, scratch, "performed_steps", PERFORMED_COLUMNS, rows)
        if export.include_images:
            self.images(archive, images)
        self.manifest(archive)

    # --- tables -------------------------------------------------------------------

    def subject(self, patient_id: str, issuer: str) -> Subject:
        return self.subjects[(patient_id, issuer)]

    def worklist_row(self, row: Row) -> Dataset:
        """A step as the worklist answers it (the same attribute map and encoding), read
        from the columns the worklist query reads."""
        dataset = worklist_item.build(row, self._request, tz=self.tz)
        dataset.PatientAge = patient_age(
            row[PATIENT + "patient_birth_date"], row["start"].astimezone(self.tz).date()
        )
        self.counts["worklist_rows"] += 1
        return self.deidentified(
            dataset, row[PATIENT + "patient_id"], row[PATIENT + "issuer_of_patient_id"]
        )

    def performed_row(self, performed_step) -> Dataset:
        dataset = Dataset.from_json(performed_step.attributes)
        dataset.SOPClassUID = MPPS_SOP_CLASS
        dataset.SOPInstanceUID = performed_step.sop_instance_uid
        self.counts["performed_steps"] += 1
        return self.deidentified(dataset, *selectors.performed_step_patient(performed_step))

    def deidentified(self, dataset: Dataset, patient_id: str, issuer: str) -> Dataset:
        result = deidentify(
            dataset,
            profile=self.profile,
            subject=self.subject(patient_id, issuer),
            uid_key=self.key,
            in_place=True,
        )
        self.progress.step()
        return result.dataset

    def table(self, archive, scratch: Path, name: str, columns: list[str], rows: Iterator):
        """One table in each format chosen, written row by row to files beside the
        ZIP (one pass over the rows), then copied into it."""
        columns = columns_kept(columns, self.profile)
        paths = {fmt: scratch / f"{name}.{fmt}" for fmt in self.export.formats}
        with _Outputs(paths) as out:
            writer = csv.writer(out["csv"]) if "csv" in out else None
            if writer:
                writer.writerow(columns)
            if "json" in out:
                out["json"].write("[")
            for n, dataset in enumerate(rows):
                if writer:
                    writer.writerow([flat(dataset, c) for c in columns])
                if "json" in out:
                    out["json"].write(("," if n else "") + "\n")
                    out["json"].write(json.dumps(dataset.to_json_dict(), ensure_ascii=False))
            if "json" in out:
                out["json"].write("\n]\n")
        for fmt, path in paths.items():
            arcname = f"{self.root}/{name}.{fmt}"
            archive.write(path, arcname)
            self.files.append(arcname)
            path.unlink()

    # --- images ---------------------------------------------------------------------

    def images(self, archive: zipfile.ZipFile, sources: Iterable[ImageSource]) -> None:
        for source in sources:
            self.image(archive, source)
            self.progress.step()

    def image(self, archive: zipfile.ZipFile, source: ImageSource) -> None:
        dataset = dcmread(source.path)
        subject = self.subject(source.patient_id, source.issuer_of_patient_id)
        result = deidentify(
            dataset, profile=self.profile, subject=subject, uid_key=self.key, in_place=True
        )
        if result.dataset is None:
            self.counts["images_left_out"] += 1
            self.left_out.append(
                {
                    "pseudonym": subject.pseudonym,
                    "study_instance_uid": self._uid(dataset, "StudyInstanceUID"),
                    "series_instance_uid": self._uid(dataset, "SeriesInstanceUID"),
                    "sop_instance_uid": self._uid(dataset, "SOPInstanceUID"),
                    "reason": result.left_out,
                }
            )
            return
        out = result.dataset
        arcname = (
            f"{self.root}/images/{subject.pseudonym}/{out.StudyInstanceUID}/"
            f"{out.SeriesInstanceUID}/{out.SOPInstanceUID}.dcm"
        )
        buffer = io.BytesIO()
        out.save_as(buffer, enforce_file_format=True)
        archive.writestr(arcname, buffer.getbuffer())
        self.counts["images"] += 1

    def _uid(self, dataset: Dataset, keyword: str) -> str:
        value = str(dataset.get(keyword, "") or "")
        return new_uid(self.key, value) if value else ""

    # --- what it is -------------------------------------------------------------------

    def description(self) -> dict:
        export = self.export
        return {
            "export": export.pk,
            "project": export.project.name,
            "purpose": export.purpose,
            "approved_at": export.decided_at.isoformat() if export.decided_at else None,
            "generated_at": timezone.now().isoformat(timespec="seconds"),
            "de_identification": {
                "profile": TABLE_VERSION,
                "methods": [
                    {"code_value": value, "coding_scheme_designator": "DCM", "code_meaning": m}
                    for value, m in self.profile.method_codes()
                ],
                "uids": "replaced by 2.25 UIDs, the same in every file of the project",
                "patients": "Patient's Name and Patient ID carry the project's pseudonym",
            },
            "cohort": export.cohort,
            "files": self.files,
            "counts": dict(self.counts),
            "images_left_out": self.left_out,
        }

    def manifest(self, archive: zipfile.ZipFile) -> None:
        description = self.description()
        archive.writestr(
            f"{self.root}/manifest.json", json.dumps(description, indent=2, ensure_ascii=False)
        )
        methods = "\n".join(
            f"  {m['code_meaning']} (DCM {m['code_value']})"
            for m in description["de_identification"]["methods"]
        )
        counts = "\n".join(f"  {k.replace('_', ' ')}: {v}" for k, v in self.counts.items())
        archive.writestr(
            f"{self.root}/README.txt",
            f"De-identified export {self.export.pk}, project {self.export.project.name}\n\n"
            f"De-identified by {TABLE_VERSION}:\n{methods}\n\n"
            "Patients appear under their pseudonym in this project (Patient ID); UIDs are\n"
            "replaced consistently in the tables and the images. Images whose pixels may\n"
            "carry burned-in text were left out: manifest.json lists them.\n\n"
            f"Contents:\n{counts}\n",
        )


class _Outputs:
    """Text files opened together and closed together."""

    def __init__(self, paths: dict[str, Path]):
        self.paths = paths
        self.files: dict = {}

    def __enter__(self):
        for fmt, path in self.paths.items():
            self.files[fmt] = path.open("w", encoding="utf-8", newline="")
        return self.files

    def __exit__(self, *exc):
        for handle in self.files.values():
            handle.close()


def write(
    export: Export,
    directory: Path,
    *,
    images: Iterable[ImageSource] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Written:
    """The export's ZIP written under `directory`, named unguessably; a file half
    written is named .part and removed if the build fails."""
    from .services import export_progress

    directory.mkdir(parents=True, exist_ok=True)
    name = f"export-{export.pk}-{secrets.token_hex(8)}.zip"
    part = directory / f"{name}.part"
    scratch = directory / f"{name}.scratch"
    scratch.mkdir()
    report = progress or (lambda d, t: export_progress(export_id=export.pk, done=d, total=t))
    builder = Builder(export, progress=report)
    image_total = 0
    if images is None and export.include_images:
        image_total = selectors.export_instances(export).count()
        data_dir = Path(settings.DATA_DIR)
        images = (
            ImageSource(data_dir / name, patient_id, issuer)
            for name, patient_id, issuer in selectors.export_images(export)
        )
    elif images is not None:
        images = list(images)
        image_total = len(images)
    try:
        with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            builder.run(archive, scratch, images or (), image_total)
        final = directory / name
        os.replace(part, final)
    finally:
        part.unlink(missing_ok=True)
        for leftover in scratch.iterdir():
            leftover.unlink()
        scratch.rmdir()
    report(builder.progress.done, builder.progress.total)
    return Written(final, final.stat().st_size, _sha256(final), dict(builder.counts))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
