"""Instance Availability Notification from an archive (N-CREATE, PS3.4 Annex R; IHE
RAD-49), sent by a pynetdicom client as a PACS would: the study is treated as arrived
at the instance level it lists."""

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, InstanceAvailabilityNotification

from worklist.models import Instance, Modality, Study

from .dicom_files import ROOT, short_uid


@pytest.fixture
def pacs(transactional_db):
    return Modality.objects.create(ae_title="PACS1", kind=Modality.Kind.PACS)


def notification(study_uid: str, series: dict[str, int]) -> Dataset:
    ds = Dataset()
    ds.ReferencedPerformedProcedureStepSequence = []
    ds.StudyInstanceUID = study_uid
    ds.ReferencedSeriesSequence = []
    for series_uid, count in series.items():
        item = Dataset()
        item.SeriesInstanceUID = series_uid
        item.ReferencedSOPSequence = []
        for number in range(count):
            sop = Dataset()
            sop.ReferencedSOPClassUID = CTImageStorage
            sop.ReferencedSOPInstanceUID = f"{series_uid}.{number + 1}"
            sop.InstanceAvailability = "ONLINE"
            sop.RetrieveAETitle = "PACS1"
            item.ReferencedSOPSequence.append(sop)
        ds.ReferencedSeriesSequence.append(item)
    return ds


def send(port: int, dataset: Dataset, calling: str = "PACS1"):
    ae = AE(ae_title=calling)
    ae.add_requested_context(InstanceAvailabilityNotification)
    assoc = ae.associate("127.0.0.1", port, ae_title="RIS")
    assert assoc.is_established
    try:
        status, _ = assoc.send_n_create(
            dataset, InstanceAvailabilityNotification, generate_uid(prefix=ROOT)
        )
        return status
    finally:
        assoc.release()


def test_an_announced_study_arrives_at_the_instance_level_listed(dicom_port, pacs):
    study_uid = short_uid()
    series = {f"{study_uid}.1": 3, f"{study_uid}.2": 2}

    status = send(dicom_port, notification(study_uid, series))

    assert status.Status == 0x0000
    study = Study.objects.get(study_instance_uid=study_uid)
    assert study.source == "IAN" and study.sending_ae_title == "PACS1"
    assert study.number_of_study_related_instances == 5
    assert study.number_of_study_related_series == 2
    assert study.reconcile_after is not None
    instance = Instance.objects.get(sop_instance_uid=f"{study_uid}.1.1")
    assert (instance.instance_availability, instance.retrieve_ae_title) == ("ONLINE", "PACS1")


def test_a_repeated_notification_changes_nothing(dicom_port, pacs):
    study_uid = short_uid()
    send(dicom_port, notification(study_uid, {f"{study_uid}.1": 2}))
    revision = Study.objects.get(study_instance_uid=study_uid).revision

    assert send(dicom_port, notification(study_uid, {f"{study_uid}.1": 2})).Status == 0

    study = Study.objects.get(study_instance_uid=study_uid)
    assert (study.revision, study.number_of_study_related_instances) == (revision, 2)


def test_stored_instances_then_announced_are_counted_once(dicom_port, pacs):
    from worklist.services import studies

    from .conftest import header

    study_uid = short_uid()
    studies.instance_received(
        header=header(study_uid, f"{study_uid}.1", f"{study_uid}.1.1"), calling_ae_title="CT1"
    )

    send(dicom_port, notification(study_uid, {f"{study_uid}.1": 2}))

    study = Study.objects.get(study_instance_uid=study_uid)
    assert study.number_of_study_related_instances == 2
    assert study.patient_id == "AV35674"  # from the stored instance; an IAN has none


@pytest.mark.parametrize(
    ("change", "status"),
    [
        (lambda ds: delattr(ds, "StudyInstanceUID"), 0x0120),
        (lambda ds: setattr(ds, "ReferencedSeriesSequence", []), 0x0121),
        (lambda ds: setattr(ds.ReferencedSeriesSequence[0], "SeriesInstanceUID", "x.y"), 0x0106),
        (
            lambda ds: setattr(
                ds.ReferencedSeriesSequence[0].ReferencedSOPSequence[0],
                "InstanceAvailability",
                "SOMEWHERE",
            ),
            0x0106,
        ),
    ],
)
def test_a_malformed_notification_is_refused_and_the_association_stays_up(
    dicom_port, pacs, change, status
):
    study_uid = short_uid()
    bad = notification(study_uid, {f"{study_uid}.1": 1})
    change(bad)

    assert send(dicom_port, bad).Status == status
    assert not Study.objects.filter(study_instance_uid=study_uid).exists()


def test_an_unknown_archive_is_refused(dicom_port, pacs):
    ae = AE(ae_title="NOBODY")
    ae.add_requested_context(InstanceAvailabilityNotification)

    assoc = ae.associate("127.0.0.1", dicom_port, ae_title="RIS")

    assert assoc.is_rejected  # the listener's policy: calling AE title not recognized


def test_announced_instances_then_stored_bring_the_header_without_counting_twice(dicom_port, pacs):
    from worklist.services import studies

    from .conftest import header

    study_uid = short_uid()
    send(dicom_port, notification(study_uid, {f"{study_uid}.1": 2}))
    assert Study.objects.get(study_instance_uid=study_uid).patient_id == ""

    received = studies.instance_received(
        header=header(study_uid, f"{study_uid}.1", f"{study_uid}.1.1"),
        calling_ae_title="CT1",
        transfer_syntax_uid="1.2.840.10008.1.2.1",
    )

    assert not received.created
    study = Study.objects.get(study_instance_uid=study_uid)
    assert study.patient_id == "AV35674"
    assert study.number_of_study_related_instances == 2
    instance = Instance.objects.get(sop_instance_uid=f"{study_uid}.1.1")
    assert (instance.source, instance.transfer_syntax_uid) == ("C-STORE", "1.2.840.10008.1.2.1")
