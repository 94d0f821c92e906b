"""What an approved export holds, built in-process (no broker): the tables carry no
identity, the study UIDs agree across tables, a patient's dates keep their intervals,
and the same input and project give the same pseudonyms."""

from datetime import date

import pytest
from pydicom.dataset import Dataset

from export import services
from export.deid import Option
from export.models import ExportStatus, Pseudonym
from export.selectors import Cohort
from tests.export.conftest import (
    PATIENTS,
    YEAR,
    approve,
    read_csv,
    read_json,
    request_export,
    zip_of,
)

pytestmark = pytest.mark.django_db


def _built(researcher, officer, **kwargs):
    export = approve(request_export(researcher, **kwargs), officer)
    assert export.status == ExportStatus.READY, export.error
    return export


def test_tables_carry_no_name_id_birth_date_or_accession_number(department, researcher, officer):
    export = _built(researcher, officer, formats=["csv", "json"])
    archive = zip_of(export)
    text = "".join(
        archive.read(name).decode("utf-8")
        for name in archive.namelist()
        if name.endswith((".csv", ".json"))
    )
    for patient_id, name, born, _ in PATIENTS:
        for part in name.split("^"):
            assert part not in text
        assert patient_id not in text
        assert f"{born:%Y%m%d}" not in text and born.isoformat() not in text
    for order in department:
        assert order.accession_number not in text
        assert order.requested_procedure.study_instance_uid not in text
    assert "Smith" not in text  # the referring physician
    rows = read_csv(archive, "worklist.csv")
    assert len(rows) == len(department)
    assert {"AccessionNumber", "PatientBirthDate", "PatientName"}.isdisjoint(rows[0])
    assert all(row["PatientID"].startswith("R") for row in rows)


def test_a_study_has_the_same_new_uid_in_every_table(department, researcher, officer):
    export = _built(researcher, officer)
    archive = zip_of(export)
    worklist = {row["StudyInstanceUID"] for row in read_csv(archive, "worklist.csv")}
    performed = read_csv(archive, "performed_steps.csv")
    assert len(performed) == 4  # the CTs
    for row in performed:
        assert row["ScheduledStepAttributesSequence.StudyInstanceUID"] in worklist
        assert row["ScheduledStepAttributesSequence.StudyInstanceUID"].startswith("2.25.")


def test_dates_of_one_patient_keep_their_intervals(department, researcher, officer):
    export = _built(researcher, officer, options=[Option.RETAIN_LONGITUDINAL_MODIFIED_DATES])
    rows = read_csv(zip_of(export), "worklist.csv")
    first = Pseudonym.objects.get(project=export.project, patient_id="AV35674").pseudonym
    dates = sorted(
        row["ScheduledProcedureStepSequence.ScheduledProcedureStepStartDate"]
        for row in rows
        if row["PatientID"] == first
    )

    def day(value):
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))

    assert len(dates) == 3
    assert [(day(d) - day(dates[0])).days for d in dates] == [0, 28, 55]
    assert day(dates[0]) != date(YEAR, 1, 5)
    other = {
        row["ScheduledProcedureStepSequence.ScheduledProcedureStepStartDate"]
        for row in rows
        if row["PatientID"] != first
    }
    assert not other & {f"{YEAR}0106", f"{YEAR}0107", f"{YEAR}0203", f"{YEAR}0204"}


def test_without_the_dates_option_no_date_leaves(department, researcher, officer):
    export = _built(researcher, officer)
    rows = read_csv(zip_of(export), "worklist.csv")
    assert not any("Date" in column for column in rows[0])


def test_same_input_and_project_give_the_same_pseudonyms(department, researcher, officer):
    first = _built(researcher, officer)
    second = _built(researcher, officer, project=first.project)
    other_project = services.project_create(owner=researcher, name="Teaching file")
    third = _built(researcher, officer, project=other_project)

    def pseudonyms(export):
        return sorted(row["PatientID"] for row in read_csv(zip_of(export), "worklist.csv"))

    assert pseudonyms(first) == pseudonyms(second)
    assert set(pseudonyms(first)).isdisjoint(pseudonyms(third))
    uids = {row["StudyInstanceUID"] for row in read_csv(zip_of(first), "worklist.csv")}
    assert uids == {row["StudyInstanceUID"] for row in read_csv(zip_of(second), "worklist.csv")}


def test_cohort_filters_choose_the_orders(department, researcher, officer):
    cohort = Cohort(
        since=date(YEAR, 1, 1),
        until=date(YEAR, 1, 31),
        modalities=("CT",),
        procedure_codes=("CTHEAD",),
    )
    export = _built(researcher, officer, cohort=cohort)
    rows = read_csv(zip_of(export), "worklist.csv")
    assert len(rows) == 3
    assert {row["ScheduledProcedureStepSequence.Modality"] for row in rows} == {"CT"}
    assert export.counts["patients"] == 3


def test_json_tables_are_dicom_json_with_the_method_recorded(department, researcher, officer):
    export = _built(
        researcher, officer, formats=["json"], options=[Option.RETAIN_PATIENT_CHARACTERISTICS]
    )
    items = read_json(zip_of(export), "worklist.json")
    dataset = Dataset.from_json(items[0])
    assert dataset.PatientIdentityRemoved == "YES"
    assert [i.CodeValue for i in dataset.DeidentificationMethodCodeSequence] == ["113100", "113108"]
    assert dataset.PatientSex in ("M", "F")
    assert dataset.PatientAge.endswith("Y")
    manifest = read_json(zip_of(export), "manifest.json")
    assert manifest["counts"]["worklist_rows"] == len(department)
    assert manifest["de_identification"]["profile"].startswith("DICOM PS3.15")
