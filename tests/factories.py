"""Test data made the way the product makes it: stations, patients and orders go
through the services, so every rule applies to them as it applies to a scheduler.

Bookings in the past are refused (worklist.services.booking.earliest_start), so days
are chosen relative to today, by rule when the weekday or a daylight-saving change
matters: `future_day(3)`, `next_weekday(WEDNESDAY)`, `next_last_sunday(10)` (the day
Europe leaves summer time). A test that needs an exam already under way books it as
it would have been booked the day before (`booked_at`).
"""

import itertools
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from worklist.models import Patient, Procedure, ScheduledProcedureStep, Station
from worklist.services.booking import StepBooking, earliest_start, order_create
from worklist.services.patients import patient_create
from worklist.services.stations import procedure_save, station_create

MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY = range(7)

_numbers = itertools.count(1)


# --- days and times -------------------------------------------------------------------


def today() -> date:
    return timezone.localdate()


def future_day(days: int = 2) -> date:
    """A day `days` ahead of today (local time): its whole day is still bookable."""
    return today() + timedelta(days=days)


def next_weekday(weekday: int, *, after: date | None = None) -> date:
    """The first `weekday` (Monday 0) strictly after `after` (default: tomorrow on), so
    the whole day is in the future."""
    start = (after or today()) + timedelta(days=1)
    return start + timedelta(days=(weekday - start.weekday()) % 7)


def last_sunday(year: int, month: int) -> date:
    first_of_next = date(year + month // 12, month % 12 + 1, 1)
    last = first_of_next - timedelta(days=1)
    return last - timedelta(days=(last.weekday() + 1) % 7)


def next_last_sunday(month: int) -> date:
    """The next last Sunday of `month` still ahead, with its Saturday ahead too: the days
    the European Union changes the clocks (3: summer time begins, 10: it ends)."""
    year = today().year
    while last_sunday(year, month) <= today() + timedelta(days=1):
        year += 1
    return last_sunday(year, month)


def local(day: date, hour: int = 9, minute: int = 0, tz: ZoneInfo | None = None) -> datetime:
    """`day` at hour:minute on the wall clock of `tz` (default: the configured zone)."""
    return datetime.combine(day, time(hour, minute), tzinfo=tz or timezone.get_default_timezone())


def current_slot() -> datetime:
    """The start of the slot under way: the earliest start a booking may have now."""
    return earliest_start()


def dicom_date(day: date) -> str:
    """A DA value: 20261125."""
    return day.strftime("%Y%m%d")


# --- stations, catalogue, patients -------------------------------------------------


def open_every_day(opens: time = time(7), closes: time = time(19)) -> list[dict]:
    return [{"weekday": day, "opens": opens, "closes": closes} for day in range(7)]


def station(ae_title: str = "CT1", modality: str = "CT", **fields) -> Station:
    """A station through the service; `name` for its station name (default: the AE
    title), open around the clock unless `opening_hours` are given."""
    return station_create(
        scheduled_station_ae_title=ae_title,
        scheduled_station_name=fields.pop("name", ae_title),
        modality=modality,
        **fields,
    )


def procedure(code: str, meaning: str, modality: str, minutes: int = 15) -> Procedure:
    return procedure_save(
        procedure=Procedure(),
        code_value=code,
        coding_scheme_designator="LOCAL",
        code_meaning=meaning,
        modality=modality,
        duration_minutes=minutes,
    )


def patient(
    patient_id: str = "P1001",
    *,
    issuer_of_patient_id: str = "HOSP",
    patient_name: str = "Müller^Anna",
    patient_birth_date: date | None = date(1970, 5, 17),
    patient_sex: str = "F",
    **fields,
) -> Patient:
    return patient_create(
        patient_id=patient_id,
        issuer_of_patient_id=issuer_of_patient_id,
        patient_name=patient_name,
        patient_birth_date=patient_birth_date,
        patient_sex=patient_sex,
        **fields,
    )


# --- orders -----------------------------------------------------------------------------


def _patient_of_order(patient, patient_id, patient_name) -> dict:
    """What order_create is told of the patient: a Patient by its identity; else the
    fields given, a new patient (generated ID, "Doe^Jane") unless the ID is known."""
    if isinstance(patient, Patient):
        return {
            "patient_id": patient.patient_id,
            "issuer_of_patient_id": patient.issuer_of_patient_id,
        }
    fields = {"issuer_of_patient_id": "HOSP", **(patient or {})}
    if patient_id:
        fields["patient_id"] = patient_id
    fields.setdefault("patient_id", f"P{next(_numbers):05d}")
    if patient_name:
        fields["patient_name"] = patient_name
    known = Patient.objects.filter(
        patient_id=fields["patient_id"], issuer_of_patient_id=fields["issuer_of_patient_id"]
    ).exists()
    if not known:
        fields.setdefault("patient_name", "Doe^Jane")
    return fields


def book(
    *,
    start: datetime | None = None,
    ae_title: str = "CT1",
    minutes: int | None = 15,
    patient: Patient | dict | None = None,
    patient_id: str = "",
    patient_name: str = "",
    modality: str = "",
    procedure: Procedure | None = None,
    step: dict | None = None,
    step_id: str = "",
    booked_at: datetime | None = None,
    user=None,
    **order,
):
    """One order with one step, booked through the booking service as the UI and the
    API book; returns the order. `start` defaults to 09:00 two days ahead; `step` holds
    further step attributes, `order` further order fields (accession_number, ...)."""
    if procedure is not None:
        order.setdefault("requested_procedure_code_sequence", [procedure.as_code_item()])
    return order_create(
        patient=_patient_of_order(patient, patient_id, patient_name),
        steps=[
            StepBooking(
                scheduled_station_ae_title=ae_title,
                start=start or local(future_day()),
                duration_minutes=minutes,
                modality=modality,
                scheduled_procedure_step_id=step_id,
                details=step or {},
            )
        ],
        user=user,
        booked_at=booked_at,
        **order,
    )


def book_step(**kwargs) -> ScheduledProcedureStep:
    """As book(), returning the step."""
    return step_of(book(**kwargs))


def step_of(order) -> ScheduledProcedureStep:
    """The (first) scheduled step of an order."""
    return order.requested_procedure.scheduled_procedure_steps.all()[0]


# --- REST payloads ---------------------------------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")


def payload_time(hour: int, minute: int = 0, day: date | None = None) -> str:
    """A date-time as an integration sends it (ISO 8601 with the Berlin offset): `day`
    (default: the day order_payload books, two days ahead) at hour:minute."""
    return local(day or future_day(), hour, minute, tz=BERLIN).isoformat()


def order_payload(**overrides) -> dict:
    """The booking request of the contract's example (POST /api/orders/), at 09:00 in
    Berlin two days ahead, with fields overridden (`step`: fields of its one step,
    `patient`: of its patient)."""
    step = {
        "scheduled_procedure_step_id": "SPS0001",
        "modality": "CT",
        "scheduled_station_ae_title": "CT1",
        "scheduled_station_name": "CT Room 1",
        "scheduled_procedure_step_location": "Radiology B",
        "scheduled_procedure_step_start_datetime": payload_time(9),
        "scheduled_procedure_step_duration_minutes": 15,
        "scheduled_performing_physician_name": "Jones^Ann",
        "scheduled_procedure_step_description": "CT head",
        "requested_contrast_agent": "",
    }
    step.update(overrides.pop("step", {}))
    payload = {
        "patient": {
            "patient_id": "AV35674",
            "issuer_of_patient_id": "HOSP",
            "patient_name": "Vivaldi^Antonio",
            "patient_birth_date": "1978-03-04",
            "patient_sex": "M",
        },
        "accession_number": "A0001",
        "referring_physician_name": "Smith^John",
        "reason_for_the_requested_procedure": "Headache",
        "requested_procedure_id": "RP0001",
        "requested_procedure_description": "CT head without contrast",
        "requested_procedure_code_sequence": [
            {"code_value": "CTHEAD", "coding_scheme_designator": "LOCAL", "code_meaning": "CT head"}
        ],
        "requested_procedure_priority": "ROUTINE",
        "scheduled_procedure_steps": [step],
    }
    payload["patient"].update(overrides.pop("patient", {}))
    payload.update(overrides)
    return payload


def post_order(client, payload: dict | None = None, **overrides):
    """POST /api/orders/ as an integration sends it: `payload`, or the contract's
    example with `overrides`; returns the response."""
    return client.post("/api/orders/", payload or order_payload(**overrides), format="json")


def api_booked(client, **overrides) -> dict:
    """The order booked over the API (the contract's example with `overrides`), as
    answered (201)."""
    response = post_order(client, **overrides)
    assert response.status_code == 201, response.json()
    return response.json()


def restore_roles() -> None:
    """The role groups and their permissions, as the data migrations make them. A
    transactional test elsewhere in the suite flushes the database (PostgreSQL runs
    such tests), and with it the groups; put them back when missing (idempotent)."""
    import importlib

    from django.contrib.auth.models import Group, Permission

    for module, grant in (
        ("worklist.migrations.0004_roles", "grant_roles"),
        ("worklist.migrations.0010_study_roles", "grant_study_permissions"),
        ("export.migrations.0002_researcher_role", "grant_export_roles"),
    ):
        getattr(importlib.import_module(module), grant)(Group, Permission)
