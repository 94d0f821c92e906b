"""Unscheduled exams: an exam a modality reported that matched no booked step waits on
a page of its own until a scheduler finds its order (by accession number, or among the
open orders of the same patient ID) and ticks the steps it performed; the steps and
the order then follow the exam, as if it had matched."""

from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import Event
from tests.factories import book, future_day, local, step_of
from worklist.models import (
    Order,
    OrderEvent,
    OrderStatus,
    PerformedProcedureStep,
    PerformedStepStatus,
    StepStatus,
)
from worklist.services.booking import order_cancel
from worklist.services.patients import patient_create

pytestmark = pytest.mark.django_db

UNSCHEDULED = reverse("ui:unscheduled")


@pytest.fixture(autouse=True)
def berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"


@pytest.fixture
def order(rooms, patient):
    return book(patient=patient, start=local(future_day(), 9))


@pytest.fixture
def other_order(rooms, patient):
    return book(patient=patient, ae_title="CT2", start=local(future_day(), 11))


_uids = iter(range(1, 10**6))


def unscheduled_exam(**fields) -> PerformedProcedureStep:
    """An N-CREATE that named no scheduled step, as the MPPS handler stores it."""
    n = next(_uids)
    values = {
        "sop_instance_uid": f"1.2.826.0.1.3680043.2.1127.{n}",
        "calling_ae_title": "CT1",
        "performed_procedure_step_id": f"PPS{n}",
        "performed_procedure_step_status": PerformedStepStatus.IN_PROGRESS,
        "performed_station_ae_title": "CT1",
        "performed_station_name": "CT Room 1",
        "modality": "CT",
        "start": datetime(2026, 11, 25, 8, 5, tzinfo=UTC),
        "patient_name": "Müller^Anna",
        "patient_id": "P1001",
        "issuer_of_patient_id": "HOSP",
        "unscheduled": True,
        "match_note": "No scheduled step attributes were sent.",
    }
    return PerformedProcedureStep.objects.create(**(values | fields))


def link_url(exam) -> str:
    return reverse("ui:performed_link", args=[exam.pk])


def link(client, exam, order, steps):
    return client.post(
        link_url(exam),
        {"accession_number": order.accession_number, "steps": [step.pk for step in steps]},
    )


def test_the_page_lists_what_the_modality_sent(scheduler_client, order):
    unscheduled_exam(accession_number="X-UNKNOWN", study_instance_uid="1.2.3.999")
    html = scheduler_client.get(UNSCHEDULED).content.decode()
    assert "Müller, Anna" in html and "P1001" in html
    assert "CT Room 1" in html
    assert "Wed 2026-11-25 09:05" in html  # local time
    assert "X-UNKNOWN" in html and "1.2.3.999" in html
    assert "No scheduled step attributes were sent." in html


def test_linked_exams_are_not_listed(scheduler_client, order):
    unscheduled_exam(performed_procedure_step_id="WAITING")
    linked = unscheduled_exam(performed_procedure_step_id="LINKED-ALREADY", unscheduled=False)
    linked.scheduled_procedure_steps.add(step_of(order))
    html = scheduler_client.get(UNSCHEDULED).content.decode()
    assert "WAITING" in html and "LINKED-ALREADY" not in html


def test_open_orders_of_the_same_patient_id_are_offered(scheduler_client, order, rooms):
    patient_create(
        patient_id="P2002",
        issuer_of_patient_id="HOSP",
        patient_name="Other^Person",
        patient_birth_date=date(1980, 1, 1),
        patient_sex="M",
    )
    someone_else = book(patient_id="P2002", start=local(future_day(), 10))
    unscheduled_exam()
    html = scheduler_client.get(UNSCHEDULED).content.decode()
    assert f"?accession_number={order.accession_number}" in html
    assert f"?accession_number={someone_else.accession_number}" not in html


def test_finding_the_order_shows_its_open_steps(scheduler_client, order):
    exam = unscheduled_exam()
    response = scheduler_client.get(link_url(exam), {"accession_number": order.accession_number})
    html = response.content.decode()
    assert response.status_code == 200
    assert step_of(order).scheduled_procedure_step_id in html
    assert f'name="steps" value="{step_of(order).pk}"' in html
    assert "Link the exam to this order" in html


def test_an_unknown_accession_number_is_an_error_next_to_the_field(scheduler_client, order):
    exam = unscheduled_exam()
    response = scheduler_client.get(link_url(exam), {"accession_number": "NOPE"})
    form = response.context["form"]
    assert form.errors["accession_number"] == ["No order has the accession number NOPE."]
    assert "Link the exam to this order" not in response.content.decode()


def test_htmx_gets_the_link_panel_alone(scheduler_client, order):
    exam = unscheduled_exam()
    response = scheduler_client.get(
        link_url(exam), {"accession_number": order.accession_number}, headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert html.lstrip().startswith(f'<div id="link-{exam.pk}"')
    assert "<html" not in html


def test_linking_an_unscheduled_exam_starts_the_order(scheduler_client, scheduler, order):
    exam = unscheduled_exam()
    step = step_of(order)
    response = link(scheduler_client, exam, order, [step])
    assert response.status_code == 302
    assert response["Location"] == reverse("ui:order", args=[order.pk])

    page = scheduler_client.get(response["Location"]).content.decode()
    assert f"linked to order {order.accession_number}" in page
    assert "IN PROGRESS</span></h1>" in page  # the order's badge
    assert 'id="performed"' in page and exam.performed_procedure_step_id in page
    step.refresh_from_db()
    assert step.scheduled_procedure_step_status == StepStatus.IN_PROGRESS
    assert Order.objects.get(pk=order.pk).status == OrderStatus.IN_PROGRESS
    linked = OrderEvent.objects.get(order=order, kind=OrderEvent.Kind.LINKED)
    assert linked.user == scheduler
    assert (
        exam.performed_procedure_step_id not in scheduler_client.get(UNSCHEDULED).content.decode()
    )


def test_linking_a_completed_exam_completes_the_order(scheduler_client, order):
    exam = unscheduled_exam(performed_procedure_step_status=PerformedStepStatus.COMPLETED)
    link(scheduler_client, exam, order, [step_of(order)])
    order.refresh_from_db()
    assert order.status == OrderStatus.COMPLETED
    assert step_of(order).scheduled_procedure_step_status == StepStatus.COMPLETED


def test_linking_is_audited_with_the_scheduler(scheduler_client, order):
    exam = unscheduled_exam()
    link(scheduler_client, exam, order, [step_of(order)])
    event = Event.objects.filter(detail__contains="performed_step_link").get()
    assert (event.username, event.event_action_code) == ("sam", "U")


def test_a_step_of_another_order_is_refused(scheduler_client, order, other_order):
    exam = unscheduled_exam()
    response = link(scheduler_client, exam, order, [step_of(other_order)])
    assert response.status_code == 400
    assert response.context["form"].errors["steps"]
    exam.refresh_from_db()
    assert exam.unscheduled and not exam.scheduled_procedure_steps.exists()
    assert step_of(other_order).scheduled_procedure_step_status == StepStatus.SCHEDULED
    assert Order.objects.get(pk=other_order.pk).status == OrderStatus.SCHEDULED


def test_choosing_no_step_is_an_error_next_to_the_steps(scheduler_client, order):
    exam = unscheduled_exam()
    response = link(scheduler_client, exam, order, [])
    assert response.status_code == 400
    assert response.context["form"].errors["steps"] == [
        "Choose the scheduled steps this exam performed."
    ]
    assert "Choose the scheduled steps this exam performed." in response.content.decode()


def test_a_cancelled_order_has_no_step_to_link(scheduler_client, order):
    order_cancel(order=order, reason="Duplicate")
    exam = unscheduled_exam()
    response = link(scheduler_client, exam, order, [step_of(order)])
    assert response.status_code == 400
    assert "has no step left to perform" in response.context["form"].errors["accession_number"][0]


def test_an_exam_linked_meanwhile_is_refused_saying_so(scheduler_client, order):
    exam = unscheduled_exam()
    PerformedProcedureStep.objects.filter(pk=exam.pk).update(unscheduled=False)
    response = link(scheduler_client, exam, order, [step_of(order)])
    assert response.status_code == 409
    assert "already linked" in response.content.decode()
    assert step_of(order).scheduled_procedure_step_status == StepStatus.SCHEDULED


def test_linking_needs_the_permission_to_reschedule(technologist_client, order):
    exam = unscheduled_exam()
    assert technologist_client.get(UNSCHEDULED).status_code == 403
    assert link(technologist_client, exam, order, [step_of(order)]).status_code == 403
    exam.refresh_from_db()
    assert exam.unscheduled
    nav = technologist_client.get(reverse("ui:calendar")).content.decode()
    assert "Unscheduled exams" not in nav


def test_schedulers_find_the_page_in_the_navigation(scheduler_client):
    nav = scheduler_client.get(reverse("ui:calendar")).content.decode()
    assert f'href="{UNSCHEDULED}"' in nav


def test_the_page_reads_in_constant_queries_however_many_exams_wait(scheduler_client, order):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert scheduler_client.get(UNSCHEDULED).status_code == 200
        return len(captured.captured_queries)

    unscheduled_exam()
    one = queries()
    for _ in range(4):
        unscheduled_exam()
    book(start=local(future_day(3), 9))  # a second open order to offer
    assert queries() == one
