"""Generated identifiers under concurrency."""

import threading

import pytest
from django.db import connections, transaction

from worklist.identifiers import new_accession_number

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_drawing_an_accession_number_does_not_wait_for_another_booking():
    """A booking still open (holding its accession number) must not make the next
    booking's draw wait for it: drawing is not where concurrent bookings queue."""
    drawn, release = threading.Event(), threading.Event()
    numbers = []

    def slow_booking():
        with transaction.atomic():
            numbers.append(new_accession_number())
            drawn.set()
            release.wait(timeout=10)
        connections.close_all()

    holder = threading.Thread(target=slow_booking)
    holder.start()
    try:
        assert drawn.wait(timeout=10)
        second = []
        other = threading.Thread(
            target=lambda: (second.append(new_accession_number()), connections.close_all())
        )
        other.start()
        other.join(timeout=3)
        assert second, "the second draw waited for the first booking's transaction"
        assert second[0] != numbers[0]
    finally:
        release.set()
        holder.join(timeout=10)
