"""What people do with a study exception (the services the exceptions page and the
REST API call): link, create a walk-in order, accept the order's demographics,
resolve with a comment; each audited, each a Conflict when someone acted first."""

import pytest

from audit.models import Event
from ris.errors import Conflict, Invalid
from worklist.models import OrderEvent, OrderStatus, StepStatus, Study
from worklist.services import studies

from .test_reconciliation import arrive, decide

pytestmark = pytest.mark.django_db


@pytest.fixture
def unscheduled(station):
    decide(arrive(patient_id="WALKIN", accession_number=""))
    return Study.objects.get(study_instance_uid="1.2.3.1")


def test_linking_decides_the_study_against_the_chosen_order(unscheduled, book, admin_user):
    order = book(accession_number="A0100", patient={"patient_id": "WALKIN"})

    study = studies.study_link(study=unscheduled, order=order, user=admin_user)

    assert study.order == order and study.linked_by_hand
    assert study.outcome == "MATCHED" and not study.exception_open
    first = study.decisions.order_by("revision").first()
    assert first.resolution == "linked" and first.resolved_by == admin_user
    assert study.decision.decided_by == admin_user
    assert study.decision.evidence["matched_by"] == "linked"
    kinds = list(order.events.values_list("kind", flat=True))
    assert OrderEvent.Kind.STUDY_RESOLVED in kinds and OrderEvent.Kind.STUDY in kinds
    assert Event.objects.filter(detail__contains="[study_link]").exists()


def test_acting_on_a_study_someone_else_worked_is_a_conflict(unscheduled, book, admin_user):
    order = book(accession_number="A0100", patient={"patient_id": "WALKIN"})
    seen = Study.objects.get(pk=unscheduled.pk)
    studies.study_resolve(study=unscheduled, comment="Test images", user=admin_user)

    with pytest.raises(Conflict):
        studies.study_link(study=seen, order=order, user=admin_user, revision=seen.revision)
    with pytest.raises(Conflict):
        studies.study_resolve(study=seen, comment="again", user=admin_user)


def test_a_study_changed_since_it_was_shown_is_a_conflict(unscheduled, admin_user):
    shown = unscheduled.revision
    arrive(patient_id="WALKIN", accession_number="", series=(("1.2.3.1.7", 1),), first=10)

    with pytest.raises(Conflict):
        studies.study_resolve(
            study=unscheduled, comment="Test images", user=admin_user, revision=shown
        )


def test_resolving_needs_a_comment_and_closes_the_exception(unscheduled, admin_user):
    with pytest.raises(Invalid):
        studies.study_resolve(study=unscheduled, comment="  ", user=admin_user)

    study = studies.study_resolve(study=unscheduled, comment="Phantom scan", user=admin_user)

    assert not study.exception_open
    assert study.decision.resolution == "resolved"
    assert study.decision.resolution_comment == "Phantom scan"


def test_accepting_the_order_demographics_closes_a_mismatch(book, admin_user):
    book(study_instance_uid="1.2.3.1")
    decide(arrive(patient_name="Vivaldi^Antonia"))
    study = Study.objects.get(study_instance_uid="1.2.3.1")
    assert study.outcome == "MISMATCH" and study.exception_open

    accepted = studies.study_accept_order_demographics(study=study, user=admin_user)

    assert not accepted.exception_open
    assert accepted.decision.resolution == "accepted"
    assert study.order.events.filter(kind=OrderEvent.Kind.STUDY_RESOLVED).exists()


def test_only_a_mismatch_has_demographics_to_accept(unscheduled, admin_user):
    with pytest.raises(Invalid):
        studies.study_accept_order_demographics(study=unscheduled, user=admin_user)


def test_an_order_for_a_walk_in_is_made_from_the_study(unscheduled, station, admin_user):
    order = studies.study_create_order(study=unscheduled, station=station, user=admin_user)

    assert order.patient.patient_id == "WALKIN"
    assert order.status == OrderStatus.COMPLETED
    procedure = order.requested_procedures.get()
    assert procedure.study_instance_uid == "1.2.3.1"
    step = procedure.scheduled_procedure_steps.get()
    assert step.scheduled_procedure_step_status == StepStatus.COMPLETED
    study = Study.objects.get(pk=unscheduled.pk)
    assert study.order == order and study.outcome == "MATCHED" and not study.exception_open
    assert study.decisions.order_by("revision").first().resolution == "order created"
