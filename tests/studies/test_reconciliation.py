"""Reconciliation of an arrived study against the orders (worklist.services.studies),
decided once the quiet period is over: matching rules, outcomes and their evidence."""

from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone

from audit.models import Event
from worklist.models import OrderEvent, Study, StudyDecision
from worklist.services import studies

from .conftest import header

pytestmark = pytest.mark.django_db


def arrive(study_uid="1.2.3.1", series=(("1.2.3.1.1", 2),), first=1, **fields) -> Study:
    number = first - 1
    for series_uid, count in series:
        for _ in range(count):
            number += 1
            studies.instance_received(
                header=header(study_uid, series_uid, f"{study_uid}.9.{number}", **fields),
                calling_ae_title="CT1",
            )
    return Study.objects.get(study_instance_uid=study_uid)


def decide(study: Study):
    later = timezone.now() + timedelta(seconds=31)
    return studies.study_reconcile(study_id=study.pk, now=later).decision


def test_nothing_is_decided_during_the_quiet_period():
    study = arrive()

    result = studies.study_reconcile(study_id=study.pk)

    assert result.decision is None
    assert 29 < result.due_in <= 30
    assert studies.studies_due() == []


def test_a_later_instance_postpones_the_decision():
    study = arrive()
    Study.objects.filter(pk=study.pk).update(reconcile_after=timezone.now() - timedelta(seconds=1))
    assert studies.studies_due() == [study.pk]

    arrive(series=(("1.2.3.1.2", 1),), first=3)

    assert studies.studies_due() == []
    assert Study.objects.get(pk=study.pk).reconcile_after > timezone.now() + timedelta(seconds=29)


def test_matched_by_study_instance_uid(book):
    order = book(study_instance_uid="1.2.3.1", accession_number="A0001")
    study = arrive()

    decision = decide(study)

    assert decision.outcome == "MATCHED"
    assert decision.evidence["matched_by"] == "study_instance_uid"
    assert decision.order == order
    study.refresh_from_db()
    assert study.order == order and study.outcome == "MATCHED" and not study.exception_open
    assert [s["instances"] for s in decision.evidence["series"]] == [2]
    line = OrderEvent.objects.get(order=order, kind=OrderEvent.Kind.STUDY)
    assert "MATCHED" in line.detail and "2 instances" in line.detail
    assert Event.objects.filter(detail__startswith="Study reconciled: MATCHED").exists()


def test_matched_by_accession_number(book):
    order = book(accession_number="A0042")

    decision = decide(arrive(accession_number="A0042"))

    assert (decision.outcome, decision.order, decision.evidence["matched_by"]) == (
        "MATCHED",
        order,
        "accession_number",
    )


def test_matched_by_patient_date_and_modality_when_one_step_fits(book):
    order = book(accession_number="A0043")

    decision = decide(arrive())

    assert decision.order == order
    assert decision.evidence["matched_by"] == "patient_date_modality"


def test_unscheduled_when_several_steps_fit(book):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    book(accession_number="A0044")
    book(accession_number="A0045", start=datetime(2026, 11, 25, 11, 0, tzinfo=ZoneInfo("UTC")))

    decision = decide(arrive())

    assert decision.outcome == "UNSCHEDULED"
    assert "several steps fit" in " ".join(decision.evidence["tried"])
    assert Study.objects.get(pk=decision.study_id).exception_open


def test_unscheduled_when_no_order_fits(station):
    decision = decide(arrive(patient_id="NOBODY"))

    assert decision.outcome == "UNSCHEDULED"
    assert decision.order is None
    assert Event.objects.filter(detail__startswith="Study reconciled: UNSCHEDULED").exists()


def test_mismatch_lists_each_difference(book):
    order = book(study_instance_uid="1.2.3.1")

    decision = decide(arrive(patient_name="Vivaldi^Antonia", patient_sex="F"))

    assert decision.outcome == "MISMATCH"
    assert decision.order == order
    assert decision.evidence["differences"] == [
        {"attribute": "PatientName", "study": "Vivaldi^Antonia", "order": "Vivaldi^Antonio"},
        {"attribute": "PatientSex", "study": "F", "order": "M"},
    ]


def complete_mpps(order, series_counts: dict[str, int]):
    from worklist.models import PerformedProcedureStep

    performed = PerformedProcedureStep.objects.create(
        sop_instance_uid="1.2.3.99",
        calling_ae_title="CT1",
        performed_procedure_step_id="PPS1",
        performed_procedure_step_status="COMPLETED",
        performed_station_ae_title="CT1",
        modality="CT",
        performed_series_sequence=[
            {"series_instance_uid": uid, "number_of_images": n, "number_of_non_image_objects": 0}
            for uid, n in series_counts.items()
        ],
    )
    step = order.requested_procedures.get().scheduled_procedure_steps.get()
    performed.scheduled_procedure_steps.add(step)


def test_incomplete_when_fewer_instances_than_mpps_listed_then_redecided(book):
    order = book(study_instance_uid="1.2.3.1")
    complete_mpps(order, {"1.2.3.1.1": 3})

    decision = decide(arrive())

    assert decision.outcome == "INCOMPLETE"
    assert decision.evidence["missing"] == [
        {"series_instance_uid": "1.2.3.1.1", "expected": 3, "received": 2, "missing": 1}
    ]
    assert decision.evidence["series"][0]["reported_by_mpps"] == 3

    studies.instance_received(
        header=header("1.2.3.1", "1.2.3.1.1", "1.2.3.1.9.3"), calling_ae_title="CT1"
    )
    again = decide(Study.objects.get(pk=decision.study_id))

    assert again.outcome == "MATCHED"
    assert Study.objects.get(pk=decision.study_id).decisions.count() == 2


def test_deciding_twice_records_one_outcome(book):
    book(study_instance_uid="1.2.3.1")
    study = arrive()

    first = decide(study)
    second = studies.study_reconcile(study_id=study.pk, now=timezone.now() + timedelta(minutes=5))

    assert first is not None and second.decision is None and second.due_in is None
    assert StudyDecision.objects.filter(study=study).count() == 1


def test_the_database_refuses_a_second_outcome_for_one_revision(book):
    study = arrive()
    decide(study)
    study.refresh_from_db()

    with pytest.raises(IntegrityError):
        StudyDecision.objects.create(study=study, revision=study.revision, outcome="MATCHED")


def test_the_sweeper_finds_studies_past_their_quiet_period():
    study = arrive()

    assert studies.studies_due(now=timezone.now() + timedelta(seconds=31)) == [study.pk]
    decide(study)
    assert studies.studies_due(now=timezone.now() + timedelta(seconds=31)) == []


def test_a_value_the_order_lacks_is_no_difference(book):
    order = book(study_instance_uid="1.2.3.1")
    order.patient.patient_sex = ""
    order.patient.save()

    decision = decide(arrive(patient_sex="F"))

    assert decision.outcome == "MATCHED"
