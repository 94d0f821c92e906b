"""The order list with its filters, and an order's page."""

import pytest
from django.urls import reverse

from tests.factories import book, future_day, local, step_of
from worklist.services.booking import order_cancel, step_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def orders(rooms, catalogue, patient):
    day = future_day()
    other_day = future_day(5)
    head = book(patient=patient, start=local(day, 9), procedure=catalogue["CTHEAD"])
    knee = book(
        patient=patient, ae_title="MR1", start=local(day, 10), procedure=catalogue["MRKNEE"]
    )
    later = book(
        patient=patient, ae_title="CT2", start=local(other_day, 9), procedure=catalogue["CTCHEST"]
    )
    order_cancel(order=later, reason="Duplicate")
    return {"head": head, "knee": knee, "later": later, "day": day, "other_day": other_day}


def listed(client, **filters):
    response = client.get(reverse("ui:orders"), filters)
    assert response.status_code == 200
    return [order.accession_number for order in response.context["page"].object_list]


def test_filters_by_date_status_modality_station_and_accession(scheduler_client, orders):
    head, knee, later = (orders[k].accession_number for k in ("head", "knee", "later"))
    assert listed(scheduler_client) == []  # opens on today; these are days ahead
    assert set(listed(scheduler_client, day="")) == {head, knee, later}
    assert listed(scheduler_client, day=orders["day"].isoformat()) == [head, knee]
    assert listed(scheduler_client, status="CANCELLED") == [later]
    assert listed(scheduler_client, modality="MR") == [knee]
    assert listed(scheduler_client, station="CT2") == [later]
    assert listed(scheduler_client, accession_number=head.lower()) == [head]
    assert listed(scheduler_client, day=orders["day"].isoformat(), modality="CT") == [head]


def test_order_list_is_paged(scheduler_client, orders):
    response = scheduler_client.get(reverse("ui:orders"), {"day": ""})
    assert "Page 1 of 1 · 3 orders" in response.content.decode()


def test_order_page_shows_dicom_details_and_history(scheduler_client, scheduler, orders, day=None):
    order = orders["head"]
    step = step_of(order)
    step_update(step=step, start=local(orders["day"], 12), user=scheduler)
    page = scheduler_client.get(reverse("ui:order", args=[order.pk])).content.decode()
    procedure = order.requested_procedure
    for value in (
        order.accession_number,
        procedure.study_instance_uid,
        procedure.requested_procedure_id,
        step.scheduled_procedure_step_id,
        "CTHEAD",
    ):
        assert value in page
    assert "Booked" in page and "Rescheduled" in page
    assert "by sam" in page


def test_cancelled_order_page_offers_no_cancel(scheduler_client, orders):
    page = scheduler_client.get(reverse("ui:order", args=[orders["later"].pk])).content.decode()
    assert "Cancel this order" not in page
    assert "Duplicate" in page
