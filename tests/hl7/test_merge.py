"""A40 merge: the merged patient's orders, steps and performed steps move to the
survivor; the merged ID still finds the survivor, on the worklist too; a booking
racing the merge ends on the survivor."""

import threading

import pytest
from django.db import connection

from audit.codes import Action
from audit.models import Event
from hl7v2 import services
from hl7v2.models import Sender
from tests import factories
from tests.dicom.conftest import dicom_port, dicom_server, find, mwl_query, mwl_settings, values
from tests.hl7.conftest import a40, adt
from worklist.models import (
    ArrivalSource,
    Order,
    Patient,
    PerformedProcedureStep,
    Study,
    StudyOutcome,
)
from worklist.services import patients as patient_services

__all__ = ["dicom_port", "dicom_server", "mwl_settings"]


def receive(text: str):
    return services.receive(text.encode(), address="127.0.0.1")


@pytest.fixture
def his_sender(transactional_db, settings):
    settings.RIS_HL7_STRICT_SENDERS = True
    Sender.objects.create(sending_application="HIS", sending_facility="HOSP")


def test_merge_moves_orders_and_is_one_audit_event_naming_both(his_sender):
    factories.station("CT1", "CT")
    survivor = factories.patient("SURV", patient_name="JONES^WILLIAM")
    merged = factories.patient("OLD", patient_name="JONES^BILL")
    order = factories.book(patient=merged)
    PerformedProcedureStep.objects.create(
        sop_instance_uid="1.2.3.9",
        calling_ae_title="CT1",
        performed_procedure_step_id="PPS1",
        performed_station_ae_title="CT1",
        modality="CT",
        matched_patient=merged,
    )

    assert receive(a40("SURV", "OLD")).ack_code == "AA"

    assert Order.objects.get(pk=order.pk).patient == survivor
    assert PerformedProcedureStep.objects.get().matched_patient == survivor
    assert not Patient.objects.filter(patient_id="OLD").exists()
    event = Event.objects.filter(action=Action.PATIENT_RECORD, event_action_code="U").get()
    assert sorted(event.patients.values_list("patient_id", flat=True)) == ["OLD", "SURV"]
    assert patient_services.patient_resolve("OLD", "HOSP") == survivor


def arrived(uid: str, patient_id: str, issuer: str = "HOSP", **fields) -> Study:
    return Study.objects.create(
        study_instance_uid=uid,
        patient_id=patient_id,
        issuer_of_patient_id=issuer,
        patient_name="JONES^BILL",
        source=ArrivalSource.STORE,
        **fields,
    )


def test_studies_without_an_order_follow_the_merge(his_sender):
    factories.patient("SURV", patient_name="JONES^WILLIAM")
    factories.patient("OLD", patient_name="JONES^BILL")
    factories.patient("OLD", issuer_of_patient_id="CLINIC", patient_name="SMITH^ANN")
    unmatched = arrived(
        "1.2.3.1", "OLD", outcome=StudyOutcome.UNSCHEDULED, exception_open=True, revision=2
    )
    other_issuer = arrived("1.2.3.2", "OLD", issuer="CLINIC")
    stranger = arrived("1.2.3.3", "NOBODY")

    assert receive(a40("SURV", "OLD")).ack_code == "AA"

    unmatched.refresh_from_db()
    assert (unmatched.patient_id, unmatched.issuer_of_patient_id) == ("SURV", "HOSP")
    assert unmatched.patient_name == "JONES^WILLIAM"
    # its open exception is decided again, against the survivor's orders
    assert unmatched.revision == 3 and unmatched.reconcile_after is not None
    other_issuer.refresh_from_db()
    assert other_issuer.patient_id == "OLD"  # another patient's study stays
    stranger.refresh_from_db()
    assert stranger.patient_id == "NOBODY"


def test_the_survivors_studies_are_listed_by_its_id_in_the_api(his_sender, api):
    factories.patient("SURV", patient_name="JONES^WILLIAM")
    factories.patient("OLD", patient_name="JONES^BILL")
    arrived("1.2.3.1", "OLD", issuer="")  # sent without an issuer: the ID is the merged one's

    receive(a40("SURV", "OLD"))

    found = api.get("/api/studies/", {"patient_id": "SURV"}).json()["results"]
    assert [s["study_instance_uid"] for s in found] == ["1.2.3.1"]
    assert api.get("/api/studies/", {"patient_id": "OLD"}).json()["results"] == []


def test_a40_sent_again_after_the_merge_is_accepted_not_repeated(his_sender):
    factories.patient("SURV")
    factories.patient("OLD", patient_name="JONES^BILL")
    receive(a40("SURV", "OLD", "M-1"))

    assert receive(a40("SURV", "OLD", "M-2")).ack_code == "AA"
    assert receive(adt("A08", patient_id="OLD", name="JONES^WILLIAM^B")).ack_code == "AA"
    assert Patient.objects.get().patient_name == "JONES^WILLIAM^B"


def test_the_worklist_answers_the_merged_id_with_the_survivor(his_sender, dicom_port):
    factories.station("CT1", "CT")
    factories.patient("SURV", patient_name="JONES^WILLIAM")
    factories.book(patient=factories.patient("OLD", patient_name="JONES^BILL"))
    receive(a40("SURV", "OLD"))

    responses = find(dicom_port, mwl_query(PatientID="OLD", PatientName=""))

    assert values(responses, "PatientID") == ["SURV"]
    assert values(responses, "PatientName") == ["JONES^WILLIAM"]


@pytest.mark.postgres
def test_a_booking_racing_the_merge_ends_on_the_survivor(his_sender):
    """The booking has locked the merged patient when the merge comes: the merge waits
    for it, then moves its order. Ordered by events, not sleeps."""
    factories.station("CT1", "CT")
    factories.patient("SURV", patient_name="JONES^WILLIAM")
    factories.patient("OLD", patient_name="JONES^BILL")
    booking_has_patient = threading.Event()
    merge_started = threading.Event()
    errors = []
    real = patient_services.patient_for_order

    def slow_patient_for_order(**kwargs):
        patient = real(**kwargs)
        booking_has_patient.set()
        merge_started.wait(10)
        return patient

    def book():
        try:
            from worklist.services import booking

            booking.patient_for_order = slow_patient_for_order
            factories.book(
                patient={"patient_id": "OLD", "issuer_of_patient_id": "HOSP"},
                accession_number="RACE1",
            )
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    def merge():
        booking_has_patient.wait(10)
        merge_started.set()
        try:
            errors.extend([] if receive(a40("SURV", "OLD")).ack_code == "AA" else ["merge AE"])
        finally:
            connection.close()

    from worklist.services import booking

    try:
        threads = [threading.Thread(target=book), threading.Thread(target=merge)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        booking.patient_for_order = real

    assert errors == []
    assert Order.objects.get(accession_number="RACE1").patient.patient_id == "SURV"
    assert not Patient.objects.filter(patient_id="OLD").exists()
    # Booking after the merge with the old ID lands on the survivor too.
    later = factories.book(
        start=factories.local(factories.future_day(3)),
        patient={
            "patient_id": "OLD",
            "issuer_of_patient_id": "HOSP",
            "patient_name": "JONES^WILLIAM",
        },
    )
    assert later.patient.patient_id == "SURV"
