"""Priority (STAT, HIGH, ROUTINE, LOW) where the desk looks: the orders list (STAT
first when sorted by urgency), the calendar and the board."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import book, future_day, local
from worklist import selectors

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
