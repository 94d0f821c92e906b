"""C-STORE from DCMTK storescu: the study, its series and instances are recorded, as
sent, before the sender hears Success."""

from worklist.models import Instance, Series, Study

from .dicom_files import StudySpec, storescu, write_study


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
    counts = {s.series_instance_uid: s.number_of_series_related_instances for s in study.series.all()}
    assert counts == {spec.series_uids[0]: 2, spec.series_uids[1]: 3}
    assert Instance.objects.filter(series__study=study).count() == 5
    assert Series.objects.get(series_instance_uid=spec.series_uids[1]).series_description == "Series 2"
