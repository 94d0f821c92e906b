"""The de-identification engine on generated CT images, written to files and read
back: what leaves, what is left out and why, and that DCMTK reads the result."""

import subprocess
from datetime import date

from pydicom import dcmread

from export.deid import Option, Profile, Subject, deidentify, new_uid
from tests.conftest import require_peer
from tests.export.images import SECONDARY_CAPTURE, Source, ct_image, write

KEY = b"project secret"
SUBJECT = Subject("RIS7Q2KX", -400)


def _out(ds, tmp_path, name="out.dcm", options=()):
    result = deidentify(ds, profile=Profile(options), subject=SUBJECT, uid_key=KEY)
    assert result.dataset is not None, result.left_out
    return dcmread(write(result.dataset, tmp_path / name))


def test_image_with_burned_in_annotation_is_left_out_with_the_reason():
    result = deidentify(
        ct_image(Source(), burned_in="YES"), profile=Profile(), subject=SUBJECT, uid_key=KEY
    )
    assert result.dataset is None
    assert result.left_out == "Burned In Annotation (0028,0301) is YES"


def test_secondary_capture_without_burned_in_statement_is_left_out():
    image = ct_image(Source(), burned_in=None, sop_class_uid=SECONDARY_CAPTURE)
    result = deidentify(image, profile=Profile(), subject=SUBJECT, uid_key=KEY)
    assert result.dataset is None
    assert "not stated for a Secondary Capture Image" in result.left_out


def test_the_source_data_set_is_left_untouched():
    image = ct_image(Source())
    deidentify(image, profile=Profile(), subject=SUBJECT, uid_key=KEY)
    assert image.PatientName == "Vivaldi^Antonio"
    assert image.file_meta.SourceApplicationEntityTitle == "CTROOM1"


def test_identity_private_tags_and_sender_are_gone(tmp_path):
    source = Source()
    written = _out(ct_image(source), tmp_path)
    text = str(written)
    for identifying in ("Vivaldi", "Antonio", "AV35674", "19780304", "A0001", "Smith", "CTROOM1"):
        assert identifying not in text
    assert written.PatientName == written.PatientID == "RIS7Q2KX"
    assert not any(element.tag.is_private for element in written.iterall())
    assert "SourceApplicationEntityTitle" not in written.file_meta
    assert written.PatientIdentityRemoved == "YES"
    assert written.LongitudinalTemporalInformationModified == "REMOVED"
    assert [item.CodeValue for item in written.DeidentificationMethodCodeSequence] == ["113100"]
    assert "StudyDate" not in written or not written.StudyDate


def test_uids_are_replaced_the_same_way_in_every_file(tmp_path):
    source = Source()
    first = _out(ct_image(source, instance_number=1), tmp_path, "1.dcm")
    second = _out(ct_image(source, instance_number=2), tmp_path, "2.dcm")
    assert (
        first.StudyInstanceUID == second.StudyInstanceUID == new_uid(KEY, source.study_instance_uid)
    )
    assert first.SeriesInstanceUID == second.SeriesInstanceUID != source.series_instance_uid
    assert first.SOPInstanceUID != second.SOPInstanceUID
    assert first.file_meta.MediaStorageSOPInstanceUID == first.SOPInstanceUID
    assert first.StudyInstanceUID.startswith("2.25.") and len(first.StudyInstanceUID) <= 64
    other_project = deidentify(
        ct_image(source), profile=Profile(), subject=SUBJECT, uid_key=b"another"
    ).dataset
    assert other_project.StudyInstanceUID != first.StudyInstanceUID


def test_modified_dates_move_by_the_patients_shift_and_keep_intervals(tmp_path):
    first = Source(study_date="20260105")
    second = Source(study_date="20260302")
    options = [Option.RETAIN_LONGITUDINAL_MODIFIED_DATES]
    a = _out(ct_image(first), tmp_path, "a.dcm", options)
    b = _out(ct_image(second), tmp_path, "b.dcm", options)

    def day(value):
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))

    assert a.StudyDate != "20260105"
    assert (day(b.StudyDate) - day(a.StudyDate)).days == (date(2026, 3, 2) - date(2026, 1, 5)).days
    assert (day(a.StudyDate) - date(2026, 1, 5)).days == -400
    assert a.AcquisitionDateTime.startswith(a.StudyDate)
    assert a.StudyTime == "091500"  # whole days: the time of day stays
    assert a.LongitudinalTemporalInformationModified == "MODIFIED"
    assert "PatientBirthDate" not in a or not a.PatientBirthDate


def test_patient_characteristics_are_kept_only_with_their_option(tmp_path):
    plain = _out(ct_image(Source()), tmp_path, "plain.dcm")
    kept = _out(ct_image(Source()), tmp_path, "kept.dcm", [Option.RETAIN_PATIENT_CHARACTERISTICS])
    assert "PatientAge" not in plain and "PatientWeight" not in plain
    assert not plain.get("PatientSex")
    assert (kept.PatientAge, kept.PatientSex, str(kept.PatientWeight)) == ("048Y", "M", "72.5")
    assert "113108" in [item.CodeValue for item in kept.DeidentificationMethodCodeSequence]


def test_clean_descriptors_keeps_descriptions_without_what_identifies(tmp_path):
    plain = _out(ct_image(Source()), tmp_path, "plain.dcm")
    cleaned = _out(ct_image(Source()), tmp_path, "clean.dcm", [Option.CLEAN_DESCRIPTORS])
    assert "StudyDescription" not in plain and "SeriesDescription" not in plain
    assert cleaned.StudyDescription == "CT head"  # "CT head Vivaldi" at the source
    assert cleaned.SeriesDescription == "Axial 5mm"
    assert cleaned.AdditionalPatientHistory == "Seen for headache, ID"


def test_dcmdump_reads_every_written_file(tmp_path):
    dcmdump = require_peer("dcmdump", "dcmtk")
    option_sets = [(), list(Option)]
    for n, options in enumerate(option_sets):
        _out(ct_image(Source(), rows=32, columns=32), tmp_path, f"{n}.dcm", options)
    for path in sorted(tmp_path.glob("*.dcm")):
        run = subprocess.run([dcmdump, "-q", str(path)], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        assert "RIS7Q2KX" in run.stdout and "Vivaldi" not in run.stdout
