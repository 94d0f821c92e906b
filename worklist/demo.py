"""A living demo department for `manage.py loaddemo`: ten rooms across CT, MR, US, CR
and MG, a procedure catalogue, a few hundred patients, a month of bookings around
today (the past ones completed or discontinued, today's under way), and one user per
role.

Every booking goes through the booking service, so the demo obeys the same rules as
real use. What a modality would report (exam started, completed) is simulated by
setting step statuses and letting the service derive the order's status.
"""

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from worklist.services.booking import StepBooking, order_cancel, order_create, order_refresh_status
from worklist.services.patients import patient_create
from worklist.services.safety import booking_alerts
from worklist.services.stations import procedure_save, station_create

from .models import (
    Order,
    OrderEvent,
    Patient,
    Procedure,
    ScheduledProcedureStep,
    Station,
    StepStatus,
)

WEEKDAYS = range(5)


def _hours(days, opens: int, closes: int) -> list[dict]:
    return [{"weekday": d, "opens": time(opens), "closes": time(closes % 24)} for d in days]


# AE title, name, modality, location, opening hours (None: around the clock)
ROOMS = [
    ("CT1", "CT Emergency", "CT", "ED", None),
    ("CT2", "CT Room 2", "CT", "Radiology B", _hours(range(6), 7, 20)),
    ("CT3", "CT Room 3", "CT", "Radiology B", _hours(WEEKDAYS, 8, 17)),
    ("MR1", "MR 1.5T", "MR", "Radiology A", _hours(range(6), 7, 21)),
    ("MR2", "MR 3T", "MR", "Radiology A", _hours(WEEKDAYS, 8, 18)),
    ("US1", "Ultrasound 1", "US", "Radiology C", _hours(WEEKDAYS, 8, 17)),
    ("US2", "Ultrasound 2", "US", "Radiology C", _hours(WEEKDAYS, 8, 16)),
    ("CR1", "X-ray 1", "CR", "Radiology C", _hours(range(7), 7, 22)),
    ("CR2", "X-ray 2", "CR", "Outpatients", _hours(WEEKDAYS, 8, 17)),
    ("MG1", "Mammography", "MG", "Breast Centre", _hours(WEEKDAYS, 8, 16)),
]

# code, meaning, modality, minutes
CATALOGUE = [
    ("CTHEAD", "CT head without contrast", "CT", 15),
    ("CTHEADC", "CT head with contrast", "CT", 20),
    ("CTCHEST", "CT chest", "CT", 15),
    ("CTABD", "CT abdomen and pelvis", "CT", 20),
    ("CTANGIO", "CT angiography", "CT", 30),
    ("CTSPINE", "CT lumbar spine", "CT", 15),
    ("MRBRAIN", "MR brain", "MR", 30),
    ("MRKNEE", "MR knee", "MR", 30),
    ("MRSPINE", "MR lumbar spine", "MR", 30),
    ("MRPROST", "MR prostate", "MR", 45),
    ("MRCARD", "MR cardiac", "MR", 60),
    ("MRSHOULD", "MR shoulder", "MR", 30),
    ("USABD", "US abdomen", "US", 20),
    ("USTHYR", "US thyroid", "US", 15),
    ("USDOPLEG", "US leg veins Doppler", "US", 30),
    ("USBREAST", "US breast", "US", 20),
    ("USOBST", "US obstetric", "US", 30),
    ("CRCHEST", "X-ray chest PA and lateral", "CR", 10),
    ("CRHAND", "X-ray hand", "CR", 10),
    ("CRKNEE", "X-ray knee", "CR", 10),
    ("CRSPINE", "X-ray lumbar spine", "CR", 15),
    ("CRPELV", "X-ray pelvis", "CR", 10),
    ("MGSCREEN", "Screening mammography", "MG", 15),
    ("MGDIAG", "Diagnostic mammography", "MG", 20),
]

CONTRAST_PROCEDURES = {"CTHEADC", "CTANGIO"}
PREPARATION = {
    "CT": "Please arrive 15 minutes early. Bring your list of medicines and any earlier "
    "scans. For a scan with contrast: nothing to eat for 4 hours before, drink water.",
    "MR": "Please arrive 20 minutes early. Leave jewellery, watches and cards at home. "
    "Tell us about any implant, pacemaker or metal in your body.",
    "US": "For an abdominal scan: nothing to eat or drink for 6 hours before.",
    "CR": "No preparation needed.",
    "MG": "Please do not use deodorant, powder or lotion on the day of the exam.",
}

FAMILY_NAMES = [
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Romano",
    "García",
    "Fernández",
    "González",
    "Rodríguez",
    "López",
    "Martínez",
    "Sánchez",
    "Pérez",
    "Gómez",
    "Jiménez",
    "Silva",
    "Santos",
    "Oliveira",
    "Costa",
    "Pereira",
    "Nowak",
    "Kowalski",
    "Wiśniewski",
    "Dvořák",
    "Novák",
    "Horváth",
    "Nagy",
    "Szabó",
    "Kovács",
    "Jensen",
    "Nielsen",
    "Hansen",
    "Andersen",
    "Øster",
    "Larsen",
    "Johansson",
    "Andersson",
    "Karlsson",
    "Nilsson",
    "Smith",
    "Jones",
    "Williams",
    "Brown",
    "Taylor",
    "Davies",
    "Evans",
    "O'Brien",
    "Murphy",
    "Kelly",
    "Walsh",
    "Van der Berg",
    "De Vries",
    "Jansen",
    "Bakker",
    "Yılmaz",
    "Kaya",
    "Demir",
    "Papadopoulos",
    "Nguyen",
    "Tran",
    "Kim",
    "Lee",
    "Park",
    "Chen",
    "Wang",
    "Li",
    "Zhang",
    "Sato",
    "Suzuki",
    "Takahashi",
    "Ivanov",
    "Petrov",
    "Popescu",
    "Ionescu",
    "Novaković",
    "Kovačević",
]
GIVEN_NAMES = {
    "F": [
        "Anna",
        "Maria",
        "Sophie",
        "Emma",
        "Léa",
        "Chloé",
        "Camille",
        "Giulia",
        "Sofia",
        "Lucía",
        "Carmen",
        "Ana",
        "Inês",
        "Zofia",
        "Agnieszka",
        "Eva",
        "Hanna",
        "Ingrid",
        "Astrid",
        "Sarah",
        "Emily",
        "Olivia",
        "Siobhán",
        "Fleur",
        "Elif",
        "Eleni",
        "Linh",
        "Min-ji",
        "Mei",
        "Yuki",
        "Olga",
        "Ioana",
        "Béatrice",
        "Zoë",
        "Renée",
        "Dóra",
        "Małgorzata",
    ],
    "M": [
        "Thomas",
        "Lukas",
        "Jonas",
        "Paul",
        "Louis",
        "Hugo",
        "Lucas",
        "Marco",
        "Luca",
        "Alessandro",
        "José",
        "Javier",
        "João",
        "Pedro",
        "Jan",
        "Piotr",
        "Tomáš",
        "Péter",
        "Lars",
        "Mikkel",
        "Erik",
        "Sven",
        "James",
        "Oliver",
        "Seán",
        "Daan",
        "Mehmet",
        "Nikos",
        "Minh",
        "Ji-ho",
        "Wei",
        "Haruto",
        "Ivan",
        "Andrei",
        "Zoltán",
        "François",
        "Jürgen",
        "Bjørn",
    ],
}
REFERRERS = ["Smith^John", "Dubois^Claire", "Rossi^Marco", "Nowak^Ewa", "Jensen^Lars"]
REASONS = [
    "Headache",
    "Trauma",
    "Follow-up",
    "Chest pain",
    "Abdominal pain",
    "Screening",
    "Back pain",
    "Suspected fracture",
    "Shortness of breath",
    "Knee pain",
]
ROLE_USERS = [
    ("scheduler", "scheduler"),
    ("technologist", "technologist"),
    ("radiologist", "radiologist"),
    ("compliance", "compliance officer"),
    ("admin", "administrator"),
]


@dataclass
class DemoSummary:
    stations: int
    procedures: int
    patients: int
    orders: int
    users: list[str]


class NotEmpty(Exception):
    pass


def load(
    *,
    patients: int = 300,
    days_before: int = 14,
    days_after: int = 16,
    fill: float = 0.7,
    seed: int = 1,
    password: str = "demo",  # noqa: S107 - the demo users' password, printed by loaddemo
    progress=None,
) -> DemoSummary:
    """Fill an empty database with the demo department (refuses one holding data);
    `progress` (a callable) is told after each day booked."""
    if Patient.objects.exists() or Order.objects.exists() or Station.objects.exists():
        raise NotEmpty("The database already holds stations, patients or orders.")
    rng = random.Random(seed)
    with transaction.atomic():
        stations = _stations()
        procedures = _catalogue()
        people = _patients(rng, patients)
        users = _users(password)
    count = 0
    today = timezone.localdate()
    total = days_before + days_after
    for number, offset in enumerate(range(-days_before, days_after), start=1):
        day = today + timedelta(days=offset)
        with transaction.atomic():
            count += _book_day(rng, day, stations, procedures, people, fill)
        if progress is not None:
            progress(f"Day {number}/{total} ({day:%Y-%m-%d}) booked: {count} orders so far")
    return DemoSummary(len(stations), len(procedures), len(people), count, users)


def _stations() -> list[Station]:
    return [
        station_create(
            scheduled_station_ae_title=ae,
            scheduled_station_name=name,
            modality=modality,
            scheduled_procedure_step_location=location,
            opening_hours=hours,
        )
        for ae, name, modality, location, hours in ROOMS
    ]


def _catalogue() -> list[Procedure]:
    return [
        procedure_save(
            procedure=Procedure(),
            code_value=code,
            coding_scheme_designator="LOCAL",
            code_meaning=meaning,
            modality=modality,
            duration_minutes=minutes,
            uses_contrast=code in CONTRAST_PROCEDURES,
            preparation_instructions=PREPARATION.get(modality, ""),
        )
        for code, meaning, modality, minutes in CATALOGUE
    ]


def _patients(rng: random.Random, count: int) -> list[Patient]:
    people = []
    for number in range(1, count + 1):
        sex = rng.choice("FM")
        born = date(1935, 1, 1) + timedelta(days=rng.randrange(365 * 85))
        people.append(
            patient_create(
                patient_id=f"D{number:06d}",
                issuer_of_patient_id="DEMO",
                patient_name=f"{rng.choice(FAMILY_NAMES)}^{rng.choice(GIVEN_NAMES[sex])}",
                patient_birth_date=born,
                patient_sex=sex,
                allergies=rng.choice(["", "", "", "", "Iodinated contrast", "Latex"]),
                medical_alerts=rng.choice([""] * 12 + ["Pacemaker", "Diabetes"]),
                special_needs=rng.choice([""] * 12 + ["Wheelchair", "Interpreter (Italian)"]),
            )
        )
    return people


def _users(password: str) -> list[str]:
    made = []
    model = get_user_model()
    for username, role in ROLE_USERS:
        user, created = model.objects.get_or_create(username=username)
        if created:
            user.set_password(password)
            user.is_staff = role == "administrator"
            user.save()
            user.groups.add(Group.objects.get(name=role))
            made.append(f"{username} ({role})")
    return made


def _open_windows(station: Station, day: date) -> list[tuple[datetime, datetime]]:
    tz = timezone.get_default_timezone()
    hours = [(h.opens, h.closes) for h in station.opening_hours.all() if h.weekday == day.weekday()]
    if not station.opening_hours.all():
        hours = [(time(7), time(23))]  # open around the clock; the demo books it by day
    windows = []
    for opens, closes in hours:
        close_day = day + timedelta(days=1) if closes == time(0) else day
        windows.append(
            (
                datetime.combine(day, opens, tzinfo=tz),
                datetime.combine(close_day, closes, tzinfo=tz),
            )
        )
    return windows


def _book_day(rng, day, stations, procedures, people, fill) -> int:
    """Book `day` of every room back to back with gaps, then play the exams that are
    over (completed, a few discontinued) and the one under way."""
    now = timezone.now()
    booked = 0
    busy: dict[int, list[tuple[datetime, datetime]]] = {}
    by_modality: dict[str, list[Procedure]] = {}
    for procedure in procedures:
        by_modality.setdefault(procedure.modality, []).append(procedure)
    for station in stations:
        for opens, closes in _open_windows(station, day):
            cursor = opens
            while True:
                procedure = rng.choice(by_modality[station.modality])
                end = cursor + timedelta(minutes=procedure.duration_minutes)
                if end > closes:
                    break
                person = _free_person(rng, people, busy, cursor, end)
                if person is not None and rng.random() < fill:
                    busy.setdefault(person.pk, []).append((cursor, end))
                    order = order_create(
                        patient={
                            "patient_id": person.patient_id,
                            "issuer_of_patient_id": person.issuer_of_patient_id,
                        },
                        acknowledged_alerts=[a.code for a in booking_alerts(person, procedure)],
                        steps=[
                            StepBooking(
                                scheduled_station_ae_title=station.scheduled_station_ae_title,
                                start=cursor,
                                duration_minutes=procedure.duration_minutes,
                                modality=procedure.modality,
                                details={
                                    "scheduled_procedure_step_description": procedure.code_meaning,
                                    "scheduled_performing_physician_name": "",
                                },
                            )
                        ],
                        requested_procedure_code_sequence=[procedure.as_code_item()],
                        referring_physician_name=rng.choice(REFERRERS),
                        reason_for_the_requested_procedure=rng.choice(REASONS),
                        requested_procedure_priority=rng.choice(["ROUTINE"] * 8 + ["HIGH", "STAT"]),
                        booked_at=min(now, cursor),  # the past was booked back then
                    )
                    booked += 1
                    _play(rng, order, cursor, end, now)
                cursor = end
    return booked


def _free_person(rng, people, busy, start, end):
    """A patient with no other exam in [start, end) (one patient is never in two rooms
    at once); None after a few tries."""
    for _ in range(5):
        person = rng.choice(people)
        if all(end <= s or e <= start for s, e in busy.get(person.pk, ())):
            return person
    return None


def _play(rng, order, start, end, now) -> None:
    """What the modality would have reported by now for this exam; the history is
    dated as it would have happened."""
    events = OrderEvent.objects.filter(order=order)
    events.update(
        at=min(now, start) - timedelta(days=rng.randint(1, 20), minutes=rng.randint(0, 600))
    )
    if start > now:
        if rng.random() < 0.03:
            order_cancel(order=order, reason=rng.choice(["Patient declined", "Duplicate"]))
        return
    steps = ScheduledProcedureStep.objects.filter(requested_procedure__order=order)
    if rng.random() < 0.04:
        steps.update(scheduled_procedure_step_status=StepStatus.DISCONTINUED)
        order_refresh_status(order)
        events.filter(kind=OrderEvent.Kind.DISCONTINUED).update(at=start)
        return
    steps.update(scheduled_procedure_step_status=StepStatus.IN_PROGRESS)
    order_refresh_status(order)
    events.filter(kind=OrderEvent.Kind.STARTED).update(at=start)
    if end <= now:
        steps.update(scheduled_procedure_step_status=StepStatus.COMPLETED)
        order_refresh_status(order)
        events.filter(kind=OrderEvent.Kind.COMPLETED).update(at=end)
