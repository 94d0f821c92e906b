"""Working a study exception on its page: link to an order, create an order for a
walk-in, accept the order's demographics, resolve with a comment. Each is audited
(the services record it) and refused with 409 when someone else acted first: the
revision the person saw goes back with the form."""

import html

import pytest
from django.urls import reverse

from audit.models import Event
from worklist.models import OrderStatus, Study

from .conftest import arrive, book, decide

pytestmark = pytest.mark.django_db


def url(name: str, study: Study) -> str:
    return reverse(f"ui:{name}", args=[study.pk])


def text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def unscheduled(station):
    return decide(arrive(patient_id="WALKIN"))


@pytest.fixture
def mismatch(station):
    book("A0001", study_instance_uid="1.2.3.1")
    return decide(arrive(patient_name="Vivaldi^Antonia"))


def audited(action_name: str, username: str = "scheduler") -> Event:
    return Event.objects.get(detail__contains=f"[{action_name}]", username=username)


def test_linking_an_unscheduled_study_to_its_order(scheduler_client, unscheduled):
    order = book("A0100", patient={"patient_id": "WALKIN"})

    response = scheduler_client.post(
        url("study_link", unscheduled), {"order": order.pk, "revision": unscheduled.revision}
    )

    assert response.status_code == 302 and response["Location"] == url("study", unscheduled)
    study = Study.objects.get(pk=unscheduled.pk)
    assert (study.order, study.outcome, study.exception_open) == (order, "MATCHED", False)
    page = text(scheduler_client.get(response["Location"]))
    assert "Study linked to order A0100, now MATCHED." in page
    assert "No open exception. Linked to an order by scheduler" in page
    event = audited("study_link")
    assert event.event_action_code == "U" and event.event_outcome_indicator == 0
    assert ["study_instance_uid", "1.2.3.1"] in event.participant_objects


def test_linking_to_an_order_of_another_patient_leaves_a_mismatch_to_settle(
    scheduler_client, unscheduled
):
    order = book("A0200")  # the contract's patient, not WALKIN

    response = scheduler_client.post(
        url("study_link", unscheduled), {"order": order.pk, "revision": unscheduled.revision}
    )

    study = Study.objects.get(pk=unscheduled.pk)
    assert study.outcome == "MISMATCH" and study.exception_open
    page = text(scheduler_client.get(response["Location"]))
    assert "now MISMATCH: still open" in page
    assert "Accept the order's demographics" in page


def test_creating_an_order_for_a_walk_in(scheduler_client, unscheduled, station):
    response = scheduler_client.post(
        url("study_create_order", unscheduled),
        {
            "station": "CT1",
            "requested_procedure_description": "CT head walk-in",
            "revision": unscheduled.revision,
        },
    )

    assert response.status_code == 302
    study = Study.objects.select_related("order__patient").get(pk=unscheduled.pk)
    order = study.order
    assert order.status == OrderStatus.COMPLETED and order.patient.patient_id == "WALKIN"
    assert order.requested_procedure.requested_procedure_description == "CT head walk-in"
    assert study.outcome == "MATCHED" and not study.exception_open
    page = text(scheduler_client.get(response["Location"]))
    assert f"Order {order.accession_number} created for the walk-in" in page
    assert audited("study_create_order").event_action_code == "C"


def test_accepting_the_order_demographics_closes_a_mismatch(scheduler_client, mismatch):
    response = scheduler_client.post(
        url("study_accept", mismatch),
        {"comment": "Name misspelt at the console", "revision": mismatch.revision},
    )

    assert response.status_code == 302
    study = Study.objects.get(pk=mismatch.pk)
    assert not study.exception_open
    assert study.decision.resolution == "accepted"
    assert study.decision.resolution_comment == "Name misspelt at the console"
    assert audited("study_accept_order_demographics").event_action_code == "U"


def test_resolving_needs_a_comment(scheduler_client, unscheduled):
    refused = scheduler_client.post(
        url("study_resolve", unscheduled), {"revision": unscheduled.revision}
    )

    assert refused.status_code == 400
    assert "This field is required." in text(refused)
    assert Study.objects.get(pk=unscheduled.pk).exception_open

    done = scheduler_client.post(
        url("study_resolve", unscheduled), {"comment": "Phantom", "revision": unscheduled.revision}
    )

    assert done.status_code == 302
    assert not Study.objects.get(pk=unscheduled.pk).exception_open
    assert "“Phantom”" in text(scheduler_client.get(done["Location"]))
    assert audited("study_resolve").event_outcome_indicator == 0


def test_acting_after_someone_else_is_a_conflict_shown_with_the_study_as_it_now_is(
    scheduler_client, user_in, unscheduled
):
    shown = unscheduled.revision
    colleague = user_in("administrator", "alex")
    colleague.post(url("study_resolve", unscheduled), {"comment": "Test images", "revision": shown})
    order = book("A0100", patient={"patient_id": "WALKIN"})

    response = scheduler_client.post(
        url("study_link", unscheduled), {"order": order.pk, "revision": shown}
    )

    assert response.status_code == 409
    page = text(response)
    assert "Someone else acted first." in page
    assert "This exception is no longer open" in page
    assert "Resolved with a comment by alex" in page
    assert "Work the exception" not in page
    study = Study.objects.get(pk=unscheduled.pk)
    assert study.order is None and study.decision.resolution_comment == "Test images"


def test_images_arriving_since_the_page_was_shown_are_a_conflict(scheduler_client, unscheduled):
    shown = unscheduled.revision
    later = decide(arrive(patient_id="WALKIN", series=(("1.2.3.1.2", 1),)))
    assert later.revision != shown and later.exception_open

    response = scheduler_client.post(
        url("study_resolve", unscheduled), {"comment": "Phantom", "revision": shown}
    )

    assert response.status_code == 409
    page = text(response)
    assert "The study changed since it was shown" in page
    # the page now carries the revision it shows
    assert f'name="revision" value="{later.revision}"' in page
    assert Study.objects.get(pk=unscheduled.pk).exception_open
    refused = Event.objects.get(detail__contains="[study_resolve: Conflict]")
    assert refused.event_outcome_indicator == 4


def test_accepting_demographics_of_an_unscheduled_study_is_refused(scheduler_client, unscheduled):
    response = scheduler_client.post(
        url("study_accept", unscheduled), {"revision": unscheduled.revision}
    )

    assert response.status_code == 400
    assert "Only a mismatch with an order has demographics to accept." in text(response)


def test_only_schedulers_and_administrators_act(user_in, unscheduled):
    for role in ("technologist", "radiologist", "compliance officer"):
        client = user_in(role)
        response = client.post(
            url("study_resolve", unscheduled), {"comment": "x", "revision": unscheduled.revision}
        )
        assert response.status_code == 403, role
    assert Study.objects.get(pk=unscheduled.pk).exception_open


def test_actions_are_posted(scheduler_client, unscheduled):
    assert scheduler_client.get(url("study_resolve", unscheduled)).status_code == 405
