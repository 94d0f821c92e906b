"""Priority (STAT, HIGH, ROUTINE, LOW) where the desk looks: the orders list (STAT
first when sorted by urgency), the calendar and the board."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import book, future_day, local
from worklist import selectors
from worklist.models import Order
from worklist.services.booking import order_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def day():
    return future_day(2)


@pytest.fixture
def mixed(rooms, day):
    for hour, priority in ((8, "LOW"), (9, "ROUTINE"), (10, "STAT"), (11, "HIGH")):
        book(
            start=local(day, hour),
            accession_number=f"ACC{priority}",
            requested_procedure_priority=priority,
        )


def test_sorted_by_urgency_stat_comes_first(mixed, day):
    page = selectors.order_search(day=day, sort="urgency")
    assert [o.accession_number for o in page.object_list] == [
        "ACCSTAT",
        "ACCHIGH",
        "ACCROUTINE",
        "ACCLOW",
    ]
    by_time = selectors.order_search(day=day)
    assert [o.accession_number for o in by_time.object_list][0] == "ACCLOW"


def test_orders_list_shows_priority_and_sorts(scheduler_client, mixed, day):
    response = scheduler_client.get(
        reverse("ui:orders"), {"day": day.isoformat(), "sort": "urgency"}
    )
    page = response.content.decode()
    assert '<span class="prio prio-STAT">STAT</span>' in page
    assert page.index("ACCSTAT") < page.index("ACCHIGH") < page.index("ACCLOW")


def test_calendar_block_and_board_show_priority(scheduler_client, rooms, day):
    book(start=local(day, 10), requested_procedure_priority="STAT")
    page = scheduler_client.get(
        reverse("ui:calendar"), {"station": "CT1", "day": day.isoformat()}
    ).content.decode()
    assert 'class="prio prio-STAT">STAT</span>' in page
    start = timezone.localtime().replace(hour=10, minute=0, second=0, microsecond=0)
    book(start=start, requested_procedure_priority="HIGH", booked_at=start - timedelta(days=1))
    board = scheduler_client.get(reverse("ui:board"), {"station": "CT1"}).content.decode()
    assert 'class="prio prio-HIGH">HIGH</span>' in board


def test_api_orders_by_urgency_then_time(api, mixed, day):
    waiting_stat = book(
        start=local(day, 7),
        accession_number="ACCSTAT0",
        requested_procedure_priority="STAT",
    )
    later_stat = book(
        start=local(day, 12),
        accession_number="ACCSTAT2",
        requested_procedure_priority="STAT",
    )
    assert later_stat.pk > waiting_stat.pk

    response = api.get("/api/orders/", {"ordering": "urgency"})

    assert response.status_code == 200
    assert [o["accession_number"] for o in response.json()["results"]] == [
        "ACCSTAT0",
        "ACCSTAT",
        "ACCSTAT2",
        "ACCHIGH",
        "ACCROUTINE",
        "ACCLOW",
    ]
    assert api.get("/api/orders/", {"ordering": "loudest"}).status_code == 400


def test_api_urgency_with_a_status_filter_lists_waiting_stat_orders_first(api, rooms):
    for placer, priority in (("W-ROUTINE", "ROUTINE"), ("W-STAT", "STAT"), ("W-LOW", "LOW")):
        order_request(
            patient={"patient_id": f"P-{placer}", "patient_name": "Doe^Jane"},
            placer_order_number=placer,
            requested_procedure_priority=priority,
        )
    book(requested_procedure_priority="STAT")  # scheduled: filtered out

    response = api.get("/api/orders/", {"ordering": "urgency", "status": "REQUESTED"})

    ids = [o["id"] for o in response.json()["results"]]
    assert [Order.objects.get(pk=pk).placer_order_number for pk in ids] == [
        "W-STAT",
        "W-ROUTINE",
        "W-LOW",
    ]
