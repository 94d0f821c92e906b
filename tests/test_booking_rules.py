"""The booking rules, called as the UI, the API and DICOM handlers call them."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from ris.errors import Conflict, Invalid
from tests import factories
from tests.factories import WEDNESDAY, local, next_last_sunday, next_weekday, step_of
from worklist.models import Order, OrderStatus, StepStatus
from worklist.services.booking import (
    StepBooking,
    order_cancel,
    order_create,
    order_refresh_status,
    step_update,
)
from worklist.services.stations import station_create

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")

DAY = next_weekday(WEDNESDAY)


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    """`day` (a Wednesday ahead) at hour:minute in Berlin."""
    return local(day, hour, minute, tz=BERLIN)


def book(ae_title="CT1", start=None, minutes=15, accession="", pid="P1"):
    return factories.book(
        ae_title=ae_title,
        start=start or at(9),
        minutes=minutes,
        patient={"patient_id": pid, "issuer_of_patient_id": "", "patient_name": "Doe^Jane"},
        accession_number=accession,
    )


@pytest.fixture
def weekday_station(db):
    hours = [{"weekday": day, "opens": time(8), "closes": time(18)} for day in range(7)]
    return station_create(scheduled_station_ae_title="MR1", modality="MR", opening_hours=hours)


def test_station_without_opening_hours_is_open_at_night(station):
    assert book(start=at(3)).status == OrderStatus.SCHEDULED


def test_booking_outside_opening_hours_is_refused(weekday_station, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    with pytest.raises(Invalid) as refused:
        book("MR1", start=at(17, 50), minutes=20)
    assert "closed" in str(refused.value.errors)
    assert Order.objects.count() == 0


def test_booking_ending_at_closing_time_is_accepted(weekday_station, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    assert book("MR1", start=at(17, 40), minutes=20)


def test_opening_hours_follow_local_wall_clock_across_daylight_saving(weekday_station, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    # 06:30 UTC is 07:30 in Berlin on the Saturday (CET, closed) and 08:30 on the
    # last Sunday of March, the first day of summer time (CEST, open).
    sunday = next_last_sunday(3)
    with pytest.raises(Invalid):
        book("MR1", start=local(sunday - timedelta(days=1), 6, 30, tz=ZoneInfo("UTC")))
    order = book("MR1", start=local(sunday, 6, 30, tz=ZoneInfo("UTC")), accession="DST1")
    assert step_of(order).start.astimezone(BERLIN).time() == time(8, 30)


def test_closing_at_midnight_allows_the_last_evening_slot(db, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    station_create(
        scheduled_station_ae_title="US1",
        modality="US",
        opening_hours=[{"weekday": 2, "opens": time(20), "closes": time(0)}],
    )
    assert book("US1", start=at(23, 30), minutes=30)


def test_opening_hours_closing_before_opening_are_refused(db):
    with pytest.raises(Invalid) as refused:
        station_create(
            scheduled_station_ae_title="US2",
            modality="US",
            opening_hours=[{"weekday": 0, "opens": time(18), "closes": time(8)}],
        )
    assert "closes" in refused.value.errors["opening_hours"]["0"]


def test_a_start_in_the_past_is_refused_naming_the_field(station):
    yesterday = local(factories.today() - timedelta(days=1), 9)
    with pytest.raises(Invalid) as refused:
        book(start=yesterday)
    [message] = refused.value.errors["scheduled_procedure_steps"]["0"][
        "scheduled_procedure_step_start_datetime"
    ]
    assert "past" in message
    assert Order.objects.count() == 0


def test_the_slot_under_way_may_still_be_booked_not_the_one_before(station):
    under_way = factories.current_slot()
    with pytest.raises(Invalid):
        book(start=under_way - timedelta(minutes=15), accession="A1")
    assert book(start=under_way, accession="A2").status == OrderStatus.SCHEDULED


def test_moving_a_step_into_the_past_is_refused(station):
    step = step_of(book())
    with pytest.raises(Invalid) as refused:
        step_update(step=step, start=factories.current_slot() - timedelta(hours=1))
    assert "scheduled_procedure_step_start_datetime" in refused.value.errors
    step.refresh_from_db()
    assert step.start == at(9)


def test_a_step_already_under_way_may_be_lengthened_but_not_moved(station):
    """Booked yesterday for an hour ago, the exam still runs: its end may change, its
    start may not be moved into the past again."""
    started = factories.current_slot() - timedelta(hours=1)
    step = factories.book_step(start=started, booked_at=started - timedelta(days=1))
    assert step_update(step=step, duration_minutes=90).end == started + timedelta(minutes=90)
    station_create(scheduled_station_ae_title="CT2", modality="CT")
    with pytest.raises(Invalid):
        step_update(step=step, scheduled_station_ae_title="CT2")


def test_overlap_is_refused_on_the_same_station_only(station):
    station_create(scheduled_station_ae_title="CT2", modality="CT")
    book(accession="A1")
    assert book("CT2", accession="A2", pid="P2")
    with pytest.raises(Conflict) as clash:
        book("CT1", start=at(9, 14), accession="A3")
    assert clash.value.details["conflicting_step"]["accession_number"] == "A1"


def test_cancelled_order_frees_its_slot_and_leaves_the_worklist(station):
    order = book(accession="A1")
    order_cancel(order=order, reason="Patient declined")

    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert order.cancel_reason == "Patient declined"
    assert step_of(order).scheduled_procedure_step_status == StepStatus.DISCONTINUED
    assert book(accession="A2").status == OrderStatus.SCHEDULED


def test_cancelling_twice_is_harmless(station):
    order = book()
    order_cancel(order=order)
    assert order_cancel(order=order).status == OrderStatus.CANCELLED


def test_order_in_progress_cannot_be_cancelled(station):
    order = book()
    step = step_of(order)
    step.scheduled_procedure_step_status = StepStatus.IN_PROGRESS
    step.save()
    order_refresh_status(order)

    with pytest.raises(Conflict):
        order_cancel(order=order)


def test_reschedule_moves_the_step_when_the_slot_is_free(station):
    step = step_of(book())
    moved = step_update(step=step, start=at(11))
    assert moved.start == at(11)
    assert moved.end == at(11, 15)


def test_reschedule_onto_a_booked_slot_is_refused(station):
    book(accession="A1", start=at(11))
    step = step_of(book(accession="A2"))
    with pytest.raises(Conflict):
        step_update(step=step, start=at(11, 5))
    step.refresh_from_db()
    assert step.start == at(9)


def test_extending_a_step_over_its_neighbour_is_refused(station):
    book(accession="A1", start=at(9, 15))
    step = step_of(book(accession="A2"))
    with pytest.raises(Conflict):
        step_update(step=step, duration_minutes=30)


def test_reschedule_to_another_room_takes_its_name_and_location(station):
    station_create(
        scheduled_station_ae_title="CT2",
        scheduled_station_name="CT Room 2",
        scheduled_procedure_step_location="Radiology A",
        modality="CT",
    )
    step = step_update(step=step_of(book()), scheduled_station_ae_title="CT2")
    assert step.station.scheduled_station_ae_title == "CT2"
    assert step.scheduled_station_name == "CT Room 2"
    assert step.scheduled_procedure_step_location == "Radiology A"


def test_reschedule_to_unknown_room_is_refused(station):
    with pytest.raises(Invalid) as refused:
        step_update(step=step_of(book()), scheduled_station_ae_title="NOPE")
    assert "scheduled_station_ae_title" in refused.value.errors


def test_completed_step_cannot_be_rescheduled(station):
    step = step_of(book())
    step.scheduled_procedure_step_status = StepStatus.COMPLETED
    step.save()
    with pytest.raises(Conflict):
        step_update(step=step, start=at(12))


def _two_step_order():
    return order_create(
        patient={"patient_id": "P2", "issuer_of_patient_id": "", "patient_name": "Doe^Jo"},
        steps=[
            StepBooking(scheduled_station_ae_title="CT1", start=at(9), duration_minutes=15),
            StepBooking(scheduled_station_ae_title="CT1", start=at(10), duration_minutes=15),
        ],
    )


def _steps(order):
    return list(order.requested_procedure.scheduled_procedure_steps.order_by("start"))


def test_cancelling_the_only_step_cancels_the_order(station):
    """One rule for the UI, the API and the admin: the order's last step to be done
    cancels the order (CANCELLED, with the reason), not a DISCONTINUED order."""
    order = book()
    step_update(step=step_of(order), scheduled_procedure_step_status="DISCONTINUED", reason="Ill")
    order.refresh_from_db()
    assert (order.status, order.cancel_reason) == (OrderStatus.CANCELLED, "Ill")
    assert step_of(order).scheduled_procedure_step_status == StepStatus.DISCONTINUED
    assert list(order.events.values_list("kind", flat=True)) == ["booked", "cancelled"]


def test_cancelling_one_of_two_steps_discontinues_it_alone(station):
    order = _two_step_order()
    first, second = _steps(order)
    step_update(step=first, scheduled_procedure_step_status="DISCONTINUED")
    order.refresh_from_db()
    assert order.status == OrderStatus.SCHEDULED
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.scheduled_procedure_step_status == StepStatus.DISCONTINUED
    assert second.scheduled_procedure_step_status == StepStatus.SCHEDULED
    step_update(step=second, scheduled_procedure_step_status="DISCONTINUED")
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED


def test_cancelling_the_last_step_of_a_partly_performed_order_discontinues_it(station):
    order = _two_step_order()
    first, second = _steps(order)
    first.scheduled_procedure_step_status = StepStatus.COMPLETED
    first.save()
    step_update(step=second, scheduled_procedure_step_status="DISCONTINUED")
    order.refresh_from_db()
    assert order.status == OrderStatus.COMPLETED


def test_steps_cannot_be_set_in_progress_by_hand(station):
    with pytest.raises(Invalid):
        step_update(step=step_of(book()), scheduled_procedure_step_status="IN PROGRESS")


def test_patient_name_differing_only_in_trailing_delimiters_is_the_same(station):
    book(accession="A1")
    order_create(
        patient={"patient_id": "P1", "patient_name": "Doe^Jane^^^"},
        accession_number="A2",
        steps=[StepBooking(scheduled_station_ae_title="CT1", start=at(10))],
    )
    assert Order.objects.count() == 2


def test_missing_birth_date_of_a_known_patient_is_filled_in(station):
    book(accession="A1")
    order = order_create(
        patient={"patient_id": "P1", "patient_birth_date": datetime(1980, 1, 2).date()},
        accession_number="A2",
        steps=[StepBooking(scheduled_station_ae_title="CT1", start=at(10))],
    )
    assert order.patient.patient_birth_date.isoformat() == "1980-01-02"


def test_accession_pattern_is_configurable(station, settings):
    settings.RIS_ACCESSION_PATTERN = "ACC{seq:05d}"
    assert book().accession_number.startswith("ACC")


def test_accession_pattern_producing_too_long_numbers_is_a_configuration_error(station, settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.RIS_ACCESSION_PATTERN = "HOSPITAL-{date:%Y%m%d}-{seq:06d}"
    with pytest.raises(ImproperlyConfigured):
        book()


def test_overlapping_opening_hours_are_refused_naming_the_interval(db):
    with pytest.raises(Invalid) as refused:
        station_create(
            scheduled_station_ae_title="US2",
            modality="US",
            opening_hours=[
                {"weekday": 0, "opens": time(8), "closes": time(12)},
                {"weekday": 1, "opens": time(11), "closes": time(13)},
                {"weekday": 0, "opens": time(11), "closes": time(13)},
            ],
        )
    assert list(refused.value.errors["opening_hours"]) == ["2"]
    assert "opens" in refused.value.errors["opening_hours"]["2"]


def test_intervals_meeting_at_the_hour_and_closing_at_midnight_are_fine(db):
    station = station_create(
        scheduled_station_ae_title="US2",
        modality="US",
        opening_hours=[
            {"weekday": 0, "opens": time(8), "closes": time(12)},
            {"weekday": 0, "opens": time(12), "closes": time(0)},
        ],
    )
    assert station.opening_hours.count() == 2


def test_thousands_of_opening_hours_are_refused(db):
    with pytest.raises(Invalid) as refused:
        station_create(
            scheduled_station_ae_title="US2",
            modality="US",
            opening_hours=[{"weekday": 0, "opens": time(8), "closes": time(9)}] * 2000,
        )
    assert "At most" in refused.value.errors["opening_hours"][0]


def test_an_opening_interval_validates_itself_against_its_station(db):
    from django.core.exceptions import ValidationError

    from worklist.models import OpeningHours

    station = station_create(
        scheduled_station_ae_title="US2",
        modality="US",
        opening_hours=[{"weekday": 0, "opens": time(8), "closes": time(12)}],
    )
    with pytest.raises(ValidationError) as backwards:
        OpeningHours(station=station, weekday=1, opens=time(18), closes=time(8)).full_clean()
    assert "closes" in backwards.value.message_dict
    with pytest.raises(ValidationError) as overlapping:
        OpeningHours(station=station, weekday=0, opens=time(11), closes=time(14)).full_clean()
    assert "opens" in overlapping.value.message_dict
    OpeningHours(station=station, weekday=0, opens=time(12), closes=time(14)).full_clean()
