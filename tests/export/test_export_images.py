"""Images of an approved export (RIS_STORE_FILES): the stored instances of the studies
reconciled to the cohort's orders, de-identified one by one into the ZIP. Read back
with pydicom and DCMTK: no attribute the table removes or blanks, the study UIDs of the
tables, burned-in images left out and listed."""

import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from pydicom import dcmread

from export.deid import Profile
from export.deid.profile import resolve
from export.selectors import Cohort
from tests.conftest import require_peer
from tests.export.conftest import approve, read_csv, read_json, request_export, zip_of
from tests.export.images import Source, ct_image, write
from worklist.models import ArrivalSource, Instance, Series, Study, StudyOutcome

pytestmark = pytest.mark.django_db


def store(order, *, images=2, burned_in_last=False, outcome=StudyOutcome.MATCHED) -> Study:
    """A study of the order arrived and kept as files, as the C-STORE receiver keeps them."""
    patient = order.patient
    source = Source(
        patient_id=patient.patient_id,
        issuer=patient.issuer_of_patient_id,
        patient_name=patient.patient_name,
        birth_date=f"{patient.patient_birth_date:%Y%m%d}",
        accession_number=order.accession_number,
        study_instance_uid=order.requested_procedure.study_instance_uid,
    )
    study = Study.objects.create(
        study_instance_uid=source.study_instance_uid,
        patient_id=patient.patient_id,
        issuer_of_patient_id=patient.issuer_of_patient_id,
        accession_number=order.accession_number,
        source=ArrivalSource.STORE,
        order=order,
        outcome=outcome,
    )
    series = Series.objects.create(study=study, series_instance_uid=source.series_instance_uid)
    for n in range(1, images + 1):
        burned_in = "YES" if burned_in_last and n == images else "NO"
        image = ct_image(source, instance_number=n, rows=32, columns=32, burned_in=burned_in)
        relative = Path("studies") / source.study_instance_uid / f"{image.SOPInstanceUID}.dcm"
        write(image, Path(settings.DATA_DIR) / relative)
        Instance.objects.create(
            series=series,
            sop_instance_uid=image.SOPInstanceUID,
            sop_class_uid=image.SOPClassUID,
            instance_number=n,
            source=ArrivalSource.STORE,
            file=str(relative),
        )
    return study


@pytest.fixture
def stored(department, settings):
    settings.RIS_STORE_FILES = True
    cts = [
        o
        for o in department
        if o.requested_procedure.requested_procedure_code_sequence[0]["code_value"] == "CTHEAD"
    ]
    studies = [store(order, burned_in_last=(n == 0)) for n, order in enumerate(cts)]
    store([o for o in department if o not in cts][0], outcome=StudyOutcome.MISMATCH)
    return studies


def _images(archive):
    return [name for name in archive.namelist() if name.endswith(".dcm")]


def test_images_leave_de_identified_with_the_tables_uids(stored, researcher, officer, tmp_path):
    export = approve(request_export(researcher, include_images=True), officer)
    archive = zip_of(export)
    names = _images(archive)
    assert len(names) == 4 * 2 + 2 - 1  # 4 CT studies and 1 MR of 2 images, 1 burned in
    assert export.counts["images"] == len(names) and export.counts["images_left_out"] == 1
    worklist_uids = {row["StudyInstanceUID"] for row in read_csv(archive, "worklist.csv")}
    profile = Profile(export.options)
    identifying = {s.patient_id for s in stored} | {s.accession_number for s in stored}
    for name in names:
        path = tmp_path / Path(name).name
        path.write_bytes(archive.read(name))
        image = dcmread(path)
        assert image.StudyInstanceUID in worklist_uids
        assert name.split("/")[2] == image.PatientID  # images/<pseudonym>/...
        for element in image.iterall():
            action = profile.action(int(element.tag))
            if action is None or int(element.tag) in (0x00100010, 0x00100020):
                continue
            action = resolve(action, int(element.tag))
            assert action != "X", element.keyword
            if action == "Z":
                assert element.value in (None, "", []), element.keyword
        assert not identifying & {str(e.value) for e in image.iterall() if e.VR != "SQ"}


def test_burned_in_images_are_left_out_and_listed(stored, researcher, officer):
    export = approve(request_export(researcher, include_images=True), officer)
    manifest = read_json(zip_of(export), "manifest.json")
    left_out = manifest["images_left_out"]
    assert len(left_out) == 1
    assert {item["reason"] for item in left_out} == {"Burned In Annotation (0028,0301) is YES"}
    kept = {Path(name).stem for name in _images(zip_of(export))}
    assert not kept & {item["sop_instance_uid"] for item in left_out}
    assert all(item["pseudonym"].startswith("R") for item in left_out)


def test_dcmdump_reads_every_exported_image(stored, researcher, officer, tmp_path):
    dcmdump = require_peer("dcmdump", "dcmtk")
    export = approve(request_export(researcher, include_images=True), officer)
    archive = zip_of(export)
    out = tmp_path / "unzipped"
    archive.extractall(out)
    paths = list(out.rglob("*.dcm"))
    assert len(paths) == 9
    for path in paths:
        run = subprocess.run([dcmdump, "-q", str(path)], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        assert "Vivaldi" not in run.stdout and "AV35674" not in run.stdout


def test_the_reconciliation_outcome_chooses_the_orders(stored, researcher, officer):
    cohort = Cohort(outcomes=(StudyOutcome.MISMATCH,))
    export = approve(request_export(researcher, include_images=True, cohort=cohort), officer)
    assert export.counts["worklist_rows"] == 1
    assert export.counts["images"] == 2
