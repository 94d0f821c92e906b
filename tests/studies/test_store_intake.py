"""C-STORE from DCMTK storescu: the study, its series and instances are recorded, as
sent, before the sender hears Success."""

from pydicom import dcmread
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from tests.conftest import require_peer
from worklist.models import Instance, Modality, Series, Study

from .dicom_files import StudySpec, compress, storescu, write_study


def test_stored_study_is_recorded_with_its_hierarchy(
    dicom_port, ct_station, storescu_path, tmp_path
):
    spec = StudySpec(series=(2, 3), patient_name="Dvořák^Antonín", character_set="ISO_IR 192")
    paths = write_study(spec, tmp_path / "study")

    sent = storescu(storescu_path, dicom_port, paths)

    assert sent.returncode == 0, sent.stderr
    study = Study.objects.get(study_instance_uid=spec.study_instance_uid)
    assert study.patient_name == "Dvořák^Antonín"
    assert study.patient_id == "AV35674"
    assert study.accession_number == "A0001"
    assert study.number_of_study_related_series == 2
    assert study.number_of_study_related_instances == 5
    assert study.modalities_in_study == "CT"
    assert study.sending_ae_title == "CT1"
    assert study.reconcile_after is not None and study.outcome == ""
    counts = {
        s.series_instance_uid: s.number_of_series_related_instances for s in study.series.all()
    }
    assert counts == {spec.series_uids[0]: 2, spec.series_uids[1]: 3}
    assert Instance.objects.filter(series__study=study).count() == 5
    assert (
        Series.objects.get(series_instance_uid=spec.series_uids[1]).series_description == "Series 2"
    )


def test_latin_1_names_are_decoded_as_sent(dicom_port, ct_station, storescu_path, tmp_path):
    spec = StudySpec(patient_name="Müller^Jürgen", character_set="ISO_IR 100")
    paths = write_study(spec, tmp_path / "study")

    assert storescu(storescu_path, dicom_port, paths).returncode == 0

    assert Study.objects.get(study_instance_uid=spec.study_instance_uid).patient_name == (
        "Müller^Jürgen"
    )


def test_compressed_instances_are_kept_in_their_transfer_syntax(
    dicom_port, ct_station, storescu_path, tmp_path, studies_settings
):
    studies_settings.RIS_STORE_FILES = True
    spec = StudySpec(series=(4,))
    paths = write_study(spec, tmp_path / "study")
    compress(paths[0], require_peer("dcmcjpls", "dcmtk"))
    compress(paths[1], require_peer("dcmcrle", "dcmtk"))
    compress(paths[2], require_peer("dcmcjpeg", "dcmtk"), "+e1")
    expected = {
        p.name[:-4]: dcmread(p, stop_before_pixels=True).file_meta.TransferSyntaxUID for p in paths
    }

    # storescu proposes one compressed transfer syntax at a time: one run per kind.
    for path, proposal in zip(paths, ("-xt", "-xr", "-xs", "-x="), strict=True):
        sent = storescu(storescu_path, dicom_port, [path], extra=(proposal,))
        assert sent.returncode == 0, sent.stderr
    for uid, syntax in expected.items():
        instance = Instance.objects.get(sop_instance_uid=uid)
        assert instance.transfer_syntax_uid == syntax
        kept = dcmread(studies_settings.DATA_DIR / instance.file)
        assert kept.file_meta.TransferSyntaxUID == syntax
        original = dcmread(tmp_path / "study" / f"{uid}.dcm")
        assert kept.PixelData == original.PixelData  # as sent, never transcoded
    assert {str(s) for s in expected.values()} >= {JPEGLSLossless, RLELossless, JPEGLosslessSV1}


def test_jpeg_baseline_is_accepted(dicom_port, ct_station, storescu_path, tmp_path):
    spec = StudySpec(series=(1,), bits=8, modality="OT")
    paths = write_study(spec, tmp_path / "study")
    compress(paths[0], require_peer("dcmcjpeg", "dcmtk"), "+eb")

    sent = storescu(storescu_path, dicom_port, paths, extra=("-xy",))

    assert sent.returncode == 0, sent.stderr
    instance = Instance.objects.get(series__study__study_instance_uid=spec.study_instance_uid)
    assert instance.transfer_syntax_uid == JPEGBaseline8Bit


def test_a_second_copy_changes_nothing(dicom_port, ct_station, storescu_path, tmp_path):
    spec = StudySpec(series=(2,))
    paths = write_study(spec, tmp_path / "study")
    assert storescu(storescu_path, dicom_port, paths).returncode == 0
    study = Study.objects.get(study_instance_uid=spec.study_instance_uid)

    again = storescu(storescu_path, dicom_port, paths)

    assert again.returncode == 0, again.stderr
    assert "Success" in again.stderr or again.stderr == ""
    after = Study.objects.get(pk=study.pk)
    assert after.number_of_study_related_instances == 2
    assert after.revision == study.revision
    assert not after.discrepancies.exists()


def test_a_second_copy_with_another_patient_is_kept_as_a_discrepancy(
    dicom_port, ct_station, storescu_path, tmp_path
):
    spec = StudySpec(series=(1,))
    paths = write_study(spec, tmp_path / "study")
    assert storescu(storescu_path, dicom_port, paths).returncode == 0
    changed = dcmread(paths[0])
    changed.PatientName = "Other^Person"
    changed.PatientID = "X999"
    changed.save_as(paths[0])

    assert storescu(storescu_path, dicom_port, paths).returncode == 0

    study = Study.objects.get(study_instance_uid=spec.study_instance_uid)
    assert study.patient_id == "AV35674"
    assert study.number_of_study_related_instances == 1
    found = {(d.attribute, d.recorded, d.received, d.kind) for d in study.discrepancies.all()}
    assert found == {
        ("PatientName", "Vivaldi^Antonio", "Other^Person", "duplicate"),
        ("PatientID", "AV35674", "X999", "duplicate"),
    }
    assert study.exception_open


def test_an_unknown_calling_ae_is_refused(dicom_port, ct_station, storescu_path, tmp_path):
    spec = StudySpec(series=(1,))
    paths = write_study(spec, tmp_path / "study")

    sent = storescu(storescu_path, dicom_port, paths, calling="STRANGER")

    assert "0x0124" in sent.stderr or "Not Authorized" in sent.stderr or sent.returncode != 0
    assert not Study.objects.filter(study_instance_uid=spec.study_instance_uid).exists()


def test_a_pacs_registered_as_known_peer_may_store(dicom_port, storescu_path, tmp_path):
    Modality.objects.create(ae_title="PACS1", kind=Modality.Kind.PACS)
    spec = StudySpec(series=(1,))
    paths = write_study(spec, tmp_path / "study")

    assert storescu(storescu_path, dicom_port, paths, calling="PACS1").returncode == 0

    assert Study.objects.get(study_instance_uid=spec.study_instance_uid).sending_ae_title == "PACS1"


def test_a_deflated_instance_is_read_and_kept_deflated(
    dicom_port, ct_station, storescu_path, tmp_path, studies_settings
):
    studies_settings.RIS_STORE_FILES = True
    spec = StudySpec(series=(1,), patient_name="Ødegård^Åse")
    paths = write_study(spec, tmp_path / "study")
    compress(paths[0], require_peer("dcmconv", "dcmtk"), "+td")

    sent = storescu(storescu_path, dicom_port, paths, extra=("-xd",))

    assert sent.returncode == 0, sent.stderr
    instance = Instance.objects.get(series__study__study_instance_uid=spec.study_instance_uid)
    assert instance.transfer_syntax_uid == DeflatedExplicitVRLittleEndian
    assert instance.series.study.patient_name == "Ødegård^Åse"
    kept = dcmread(studies_settings.DATA_DIR / instance.file)
    assert kept.file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian
