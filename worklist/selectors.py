"""Reads of the worklist, shaped for their callers with the joins they need.

Patient data is read through the functions marked @audited: each records, in the
access audit, the patients it returned (for a QuerySet, the rows actually fetched:
the page shown). A new selector returning patient data gets the decorator too.
"""

import re
from bisect import bisect_right
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import NamedTuple

from django.core.paginator import Page, Paginator
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    Max,
    Min,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
)
from django.utils import timezone

from audit.audited import audited
from audit.codes import Action

from . import audit_subjects, compiled, matching, names
from .models import (
    OCCUPYING_STEP_STATUSES,
    Instance,
    Order,
    OrderEvent,
    OrderStatus,
    Patient,
    PatientAlias,
    PerformedProcedureStep,
    Priority,
    Procedure,
    RequestedProcedure,
    ScheduledProcedureStep,
    Series,
    Station,
    Study,
    StudyDecision,
    StudyDiscrepancy,
)


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    """Start and end of a calendar day in the configured local time zone (23 or 25
    hours long on daylight-saving days)."""
    tz = timezone.get_default_timezone()
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return start, end


@audited(Action.PATIENT_RECORD, patient=lambda patient: patient)
def patient_list() -> QuerySet[Patient]:
    return Patient.objects.all()


@audited(Action.PATIENT_RECORD, patients=lambda alias: [alias.survivor, alias])
def patient_alias_list() -> QuerySet[PatientAlias]:
    """Identifiers of patients merged into others (HL7 A40), and their survivors."""
    return PatientAlias.objects.select_related("survivor")


def station_list() -> QuerySet[Station]:
    return Station.objects.prefetch_related("opening_hours")


@audited(
    Action.ORDER_RECORD, patient=lambda order: order.patient, objects=audit_subjects.order_objects
)
def order_list() -> QuerySet[Order]:
    steps = ScheduledProcedureStep.objects.select_related("station")
    return Order.objects.select_related("patient").prefetch_related(
        "requested_procedures",
        Prefetch("requested_procedures__scheduled_procedure_steps", queryset=steps),
    )


def order_get(pk: int) -> Order:
    return order_list().get(pk=pk)


@audited(
    Action.PROCEDURE_RECORD,
    patient=audit_subjects.procedure_patient,
    objects=audit_subjects.procedure_objects,
)
def requested_procedure_list() -> QuerySet[RequestedProcedure]:
    return RequestedProcedure.objects.select_related("order__patient")


@audited(
    Action.PROCEDURE_RECORD,
    patient=audit_subjects.step_patient,
    objects=audit_subjects.step_objects,
)
def step_list() -> QuerySet[ScheduledProcedureStep]:
    return ScheduledProcedureStep.objects.select_related(
        "station", "requested_procedure__order__patient"
    )


@audited(
    Action.ORDER_RECORD,
    patient=lambda event: event.order.patient,
    objects=lambda event: audit_subjects.order_objects(event.order),
)
def order_event_list() -> QuerySet[OrderEvent]:
    """The orders' history lines (who did what to which order), with their order."""
    return OrderEvent.objects.select_related("order__patient", "user").prefetch_related(
        "order__requested_procedures"
    )


@audited(
    Action.PROCEDURE_RECORD,
    patient=audit_subjects.performed_patient,
    objects=audit_subjects.performed_objects,
)
def performed_step_list() -> QuerySet[PerformedProcedureStep]:
    """The performed procedure steps (MPPS) received, with what they are linked to."""
    steps = ScheduledProcedureStep.objects.select_related("station", "requested_procedure__order")
    return PerformedProcedureStep.objects.select_related("matched_patient").prefetch_related(
        Prefetch("scheduled_procedure_steps", queryset=steps)
    )


def unscheduled_performed_steps() -> QuerySet[PerformedProcedureStep]:
    """Performed steps that matched no scheduled step, oldest first: a scheduler's queue."""
    return performed_step_list().filter(unscheduled=True).order_by("created_at", "id")


# --- the scheduler UI -------------------------------------------------------------
# Every read of patient data by the web UI goes through one of these functions, which
# take the reading `user` so access can be audited in one place.

PATIENT_SEARCH_LIMIT = 50


class PatientSearchResult(NamedTuple):
    patients: list[Patient]
    truncated: bool


def _words(text: str) -> list[str]:
    """The words of a typed name: separated by spaces, commas or ^."""
    return [word for word in re.split(r"[\s,^]+", text) if word]


def patient_name_q(text: str) -> Q:
    """Patients whose name matches a typed text: every word contained in the name, or,
    with * or ?, the whole name matching the pattern word by word. Case is ignored;
    accents one way (worklist.matching): a letter typed without one finds any, a letter
    typed with one means it. The folded name column answers for the first; the name
    itself is checked only for the letters that carry an accent."""
    words = _words(text)
    if matching.has_wildcard(text):
        separators = "[ ^]+"
        folded = separators.join(matching.translate_wildcards(matching.fold(w)) for w in words)
        where = Q(patient_name_search__regex=f"^{folded}[ ^]*$")
        if matching.means_accents(text):
            exact = separators.join(
                matching.name_pattern(w, any_run="[^=]*", one="[^=]") for w in words
            )
            where &= Q(patient_name__regex=f"^{exact}[ ^]*(=|$)")
        return where
    where = Q()
    for word in words:
        where &= Q(patient_name_search__contains=matching.fold(word))
        if matching.means_accents(word):
            exact = matching.name_pattern(word, any_run="", one="")
            where &= Q(patient_name__regex=f"^[^=]*{exact}")
    return where


BIRTH_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%Y%m%d")


def typed_birth_date(text: str) -> date | None:
    """A date typed in the search box (2026-03-04, 04.03.2026, 04/03/2026, 20260304)."""
    for pattern in BIRTH_DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


def patient_id_q(text: str) -> Q:
    """Patients whose ID is the text, or (three characters or more) contains it."""
    if len(text) >= 3 and " " not in text:
        return Q(patient_id__icontains=text)
    return Q(patient_id__iexact=text)


@audited(Action.PATIENT_RECORD, patients=lambda result: result.patients)
def patient_search(
    *, text: str = "", birth_date: date | None = None, user=None, limit: int = PATIENT_SEARCH_LIMIT
) -> PatientSearchResult:
    """Patients whose name matches `text` (patient_name_q), or whose patient ID is `text`, and
    born on `birth_date` when given. Nothing is listed without a criterion."""
    text = text.strip()
    typed_date = typed_birth_date(text)
    if typed_date is not None:
        # a birth date typed in the search box
        text, birth_date = "", birth_date or typed_date
    if not text and birth_date is None:
        return PatientSearchResult([], False)
    patients = Patient.objects.all()
    if text:
        patients = patients.filter(patient_name_q(text) | patient_id_q(text))
    if birth_date is not None:
        patients = patients.filter(patient_birth_date=birth_date)
    found = list(patients[: limit + 1])
    return PatientSearchResult(found[:limit], len(found) > limit)


@audited(Action.PATIENT_RECORD, patient=lambda patient: patient)
def patient_get(*, pk: int, user=None) -> Patient:
    return Patient.objects.get(pk=pk)


@audited(
    Action.ORDER_RECORD, patient=lambda order: order.patient, objects=audit_subjects.order_objects
)
def order_to_schedule(*, pk: int, user=None) -> Order:
    """An order as the booking page schedules it (one the hospital system placed,
    waiting for its steps): patient, requested procedure and catalogue entry."""
    return (
        Order.objects.select_related("patient")
        .prefetch_related("requested_procedures__procedure")
        .get(pk=pk)
    )


def patient_orders(*, patient: Patient, user=None) -> list[Order]:
    """The patient's orders, newest first, with their procedures and steps."""
    return list(order_list().filter(patient=patient))


def procedure_catalogue() -> QuerySet[Procedure]:
    return Procedure.objects.filter(active=True)


def stations_for(*, modality: str = "", ae_title: str = "") -> list[Station]:
    """Active stations (with opening hours), of one modality or one AE title if given."""
    stations = station_list().filter(active=True)
    if modality:
        stations = stations.filter(modality=modality)
    if ae_title:
        stations = stations.filter(scheduled_station_ae_title=ae_title)
    return list(stations)


def modalities() -> list[str]:
    return list(
        Station.objects.filter(active=True)
        .order_by("modality")
        .values_list("modality", flat=True)
        .distinct()
    )


def free_slots(
    *,
    stations: list[Station],
    first_day: date,
    days: int = 1,
    duration_minutes: int,
    grid_minutes: int = 15,
    not_before: datetime | None = None,
    exclude_step: ScheduledProcedureStep | None = None,
) -> dict[int, dict[date, list[datetime]]]:
    """Start times, every `grid_minutes` of local time, at which a step of
    `duration_minutes` fits: station open (the booking rule's own check) and no
    occupying step overlapping. Keyed by station pk, then local day.

    Three queries whatever the range: the stations' opening hours are expected
    prefetched (stations_for does), the occupied intervals are read at once.
    """
    tz = timezone.get_default_timezone()
    duration = timedelta(minutes=duration_minutes)
    grid = timedelta(minutes=grid_minutes)
    range_start, _ = local_day_bounds(first_day)
    _, range_end = local_day_bounds(first_day + timedelta(days=days - 1))
    busy: dict[int, list[tuple[datetime, datetime]]] = {s.pk: [] for s in stations}
    occupied = ScheduledProcedureStep.objects.filter(
        station__in=[s.pk for s in stations],
        scheduled_procedure_step_status__in=OCCUPYING_STEP_STATUSES,
        start__lt=range_end + duration,
        end__gt=range_start,
    )
    if exclude_step is not None:
        occupied = occupied.exclude(pk=exclude_step.pk)
    for station_id, start, end in occupied.order_by("start").values_list(
        "station_id", "start", "end"
    ):
        busy[station_id].append((start, end))

    slots: dict[int, dict[date, list[datetime]]] = {}
    for station in stations:
        intervals = busy[station.pk]
        ends = [end for _, end in intervals]
        per_day = slots[station.pk] = {}
        for offset in range(days):
            day = first_day + timedelta(days=offset)
            # Step in UTC: arithmetic on local aware datetimes would follow the wall
            # clock and offer the missing hour of a daylight-saving day.
            day_start, day_end = (bound.astimezone(UTC) for bound in local_day_bounds(day))
            found = per_day[day] = []
            candidate = day_start
            while candidate < day_end:
                end = candidate + duration
                if (not_before is None or candidate >= not_before) and station.is_open(
                    candidate, end
                ):
                    # the first busy interval ending after the candidate starts
                    index = bisect_right(ends, candidate)
                    if index == len(intervals) or intervals[index][0] >= end:
                        found.append(candidate.astimezone(tz))
                candidate += grid
    return slots


@audited(
    Action.PROCEDURE_RECORD,
    patient=audit_subjects.step_patient,
    objects=audit_subjects.step_booking_objects,
)
def calendar_steps(
    *, stations: list[Station], start: datetime, end: datetime, user=None
) -> list[ScheduledProcedureStep]:
    """Every step (any status) overlapping [start, end) on these stations, with its
    patient, order and requested procedure, in one query."""
    return list(
        ScheduledProcedureStep.objects.filter(
            station__in=[s.pk for s in stations], start__lt=end, end__gt=start
        )
        .select_related("requested_procedure__order__patient")
        .only(
            "start",
            "end",
            "duration_minutes",
            "station_id",
            "modality",
            "scheduled_procedure_step_id",
            "scheduled_procedure_step_description",
            "scheduled_procedure_step_status",
            "requested_procedure__requested_procedure_description",
            "requested_procedure__order__accession_number",
            "requested_procedure__order__status",
            "requested_procedure__order__patient__patient_id",
            "requested_procedure__order__patient__issuer_of_patient_id",
            "requested_procedure__order__patient__patient_name",
            "requested_procedure__order__patient__patient_birth_date",
            "requested_procedure__order__patient__medical_alerts",
            "requested_procedure__order__patient__allergies",
            "requested_procedure__order__patient__pregnancy_status",
            "requested_procedure__order__patient__special_needs",
            "requested_procedure__requested_procedure_priority",
        )
        .order_by("start", "pk")
    )


def calendar_version(*, stations: list[Station], start: datetime, end: datetime) -> str:
    """A fingerprint of what calendar_steps would return, read without any patient
    data (so not audited): the number of steps and the last change to them, their
    orders and their patients. A calendar polling for changes compares it."""
    latest = ScheduledProcedureStep.objects.filter(
        station__in=[s.pk for s in stations], start__lt=end, end__gt=start
    ).aggregate(
        step=Max("updated_at"),
        order=Max("requested_procedure__order__updated_at"),
        patient=Max("requested_procedure__order__patient__updated_at"),
        steps=Count("pk"),
    )
    changed = [
        latest[key].timestamp() if latest[key] else 0 for key in ("step", "order", "patient")
    ]
    return "-".join([str(latest["steps"]), *(f"{moment:.6f}" for moment in changed)])


def step_get(*, pk: int, user=None) -> ScheduledProcedureStep:
    """One step with its station, order and patient, and the order's steps prefetched."""
    return (
        step_list()
        .prefetch_related(
            Prefetch(
                "requested_procedure__order__requested_procedures__scheduled_procedure_steps",
                queryset=ScheduledProcedureStep.objects.select_related("station"),
            )
        )
        .get(pk=pk)
    )


def order_search(
    *,
    day: date | None = None,
    status: str = "",
    modality: str = "",
    ae_title: str = "",
    accession_number: str = "",
    page: int | str = 1,
    per_page: int = 50,
    user=None,
    sort: str = "",
    patient_id: str = "",
) -> Page:
    """One page of orders matching the filters; a day, modality or station selects the
    orders with a step there. Ordered by their first step, or newest first; with
    `sort="urgency"` by priority first (STAT, HIGH, ROUTINE, LOW), then so."""
    orders = order_list().annotate(
        first_start=Min("requested_procedures__scheduled_procedure_steps__start")
    )
    steps = Q()
    if day is not None:
        start, end = local_day_bounds(day)
        steps &= Q(start__gte=start, start__lt=end)
    if modality:
        steps &= Q(modality=modality)
    if ae_title:
        steps &= Q(station__scheduled_station_ae_title=ae_title)
    if steps:
        matching = ScheduledProcedureStep.objects.filter(steps).values(
            "requested_procedure__order_id"
        )
        orders = orders.filter(pk__in=matching)
    if status:
        orders = orders.filter(status=status)
    if accession_number:
        orders = orders.filter(accession_number__iexact=accession_number.strip())
    if patient_id:
        orders = orders.filter(patient__patient_id__iexact=patient_id.strip())
    if sort == "urgency":
        orders = by_urgency(orders)
    elif day:
        orders = orders.order_by("first_start", "pk")
    else:
        orders = orders.order_by("-created_at", "-pk")
    return Paginator(orders, per_page).get_page(page)


def by_urgency(orders: QuerySet[Order]) -> QuerySet[Order]:
    """Orders most urgent first (urgency_rank: STAT, HIGH, ROUTINE, LOW), then by time:
    the first scheduled step's start, an order still waiting for its steps after those
    booked, oldest received first. The orders list of the UI and `?ordering=urgency` of
    /api/orders/ alike."""
    if "first_start" not in orders.query.annotations:
        orders = orders.annotate(
            first_start=Min("requested_procedures__scheduled_procedure_steps__start")
        )
    return orders.annotate(
        urgency=Min(urgency_rank("requested_procedures__requested_procedure_priority"))
    ).order_by("urgency", F("first_start").asc(nulls_last=True), "created_at", "pk")


URGENCY = (Priority.STAT, Priority.HIGH, Priority.MEDIUM, Priority.ROUTINE, Priority.LOW)


def urgency_rank(field: str) -> Case:
    """A priority as a number, most urgent first: STAT 0, HIGH 1, MEDIUM and ROUTINE 2,
    LOW 3; the order every list sorted by urgency uses."""
    return Case(
        When(**{field: Priority.STAT}, then=Value(0)),
        When(**{field: Priority.HIGH}, then=Value(1)),
        When(**{field: Priority.LOW}, then=Value(3)),
        default=Value(2),
        output_field=IntegerField(),
    )


def order_detail(*, pk: int, user=None) -> Order:
    """An order with its patient, procedure, steps and history."""
    return (
        order_list()
        .prefetch_related(Prefetch("events", queryset=OrderEvent.objects.select_related("user")))
        .get(pk=pk)
    )


def order_performed_steps(*, order: Order, user=None) -> list[PerformedProcedureStep]:
    """What the modalities reported for the order's scheduled steps (MPPS), first
    started first, each with the scheduled steps it performed: two queries."""
    return list(
        performed_step_list()
        .filter(scheduled_procedure_steps__requested_procedure__order=order)
        .distinct()
        .order_by(F("start").asc(nulls_last=True), "created_at", "pk")
    )


def performed_step_get(*, pk: int, user=None) -> PerformedProcedureStep:
    return performed_step_list().get(pk=pk)


LINKABLE_ORDER_STATUSES = (OrderStatus.SCHEDULED, OrderStatus.IN_PROGRESS)


@audited(
    Action.ORDER_RECORD, patient=lambda order: order.patient, objects=audit_subjects.order_objects
)
def link_candidates(*, patient_ids: list[str], user=None) -> list[Order]:
    """Orders still open (scheduled or under way) of the patients with these patient
    IDs, with their steps: what an unscheduled exam of one of them may be linked to."""
    ids = [patient_id for patient_id in patient_ids if patient_id]
    if not ids:
        return []
    steps = ScheduledProcedureStep.objects.select_related("station")
    return list(
        Order.objects.filter(patient__patient_id__in=ids, status__in=LINKABLE_ORDER_STATUSES)
        .select_related("patient")
        .prefetch_related(
            "requested_procedures",
            Prefetch("requested_procedures__scheduled_procedure_steps", queryset=steps),
        )
        .order_by("-created_at", "-pk")
    )


# --- the modality worklist (worklist/dicom/mwl.py) ---------------------------------

MWL_CHUNK_SIZE = 200


def modality_worklist(
    *,
    match: Q,
    stations: list[Station] | None,
    columns: list,
    limit: int | None = None,
) -> Iterator[tuple]:
    """The scheduled procedure steps a Modality Worklist query matches, in start order,
    each as the tuple of `columns` (values_list arguments: the worklist answer reads
    those and nothing else, worklist.dicom.worklist_item.COLUMNS).

    `match` comes from worklist.dicom.query; `stations` are those the calling modality
    may see (None: every station), the steps booked on them or offered to their AE
    titles. Steps of cancelled orders never appear. One SQL query over the indexed
    station / modality / status + start columns, joined to station, order and patient.
    With a `limit` (the match cap, plus one) the rows come in one round trip; without
    one they are streamed in chunks, so memory stays flat however many steps match.

    The MWL handler records every patient it returns, with the calling AE, address and
    query keys, as one audit Query event (audit.services) before answering; it reads
    the rows as they stream, hence an iterator rather than a QuerySet.
    """
    columns = tuple(columns)
    if stations is not None and not stations:
        return iter(())

    def steps():
        return _worklist_steps(_worklist_rows(columns), match=match, stations=stations)

    if limit is None:
        return steps().iterator(chunk_size=MWL_CHUNK_SIZE)
    try:
        key = (
            "modality_worklist",
            compiled.freeze(match),
            None if stations is None else tuple(_station_key(s) for s in stations),
            columns,
            limit,
        )
    except compiled.Uncacheable:
        return iter(list(steps()[:limit]))
    # The same query asked again (a modality polling its day) runs the SQL compiled
    # the first time (worklist/compiled.py); its rows are read afresh.
    return iter(compiled.STATEMENTS.rows(key, lambda: steps()[:limit]))


def _station_key(station: Station) -> tuple:
    return station.pk, station.scheduled_station_ae_title


def modality_worklist_query(
    *, match: Q, stations: list[Station] | None
) -> QuerySet[ScheduledProcedureStep] | None:
    """The query behind modality_worklist, unevaluated (None when no station may be
    seen): for its plan, not for reading patient data."""
    steps = ScheduledProcedureStep.objects.select_related(
        "station", "requested_procedure__order__patient"
    ).exclude(requested_procedure__order__status=OrderStatus.CANCELLED)
    return _worklist_steps(steps.order_by("start", "pk"), match=match, stations=stations)


@lru_cache(maxsize=4)
def _worklist_rows(columns: tuple) -> QuerySet:
    """The selected columns and joins of every worklist query, set up once: each query
    only adds its conditions to a copy (Django resolves 40 column paths otherwise)."""
    return (
        ScheduledProcedureStep.objects.exclude(
            requested_procedure__order__status=OrderStatus.CANCELLED
        )
        .values_list(*columns)
        .order_by("start", "pk")
    )


def _worklist_steps(steps: QuerySet, *, match: Q, stations: list[Station] | None):
    steps = steps.filter(match)
    if stations is None:
        return steps
    if not stations:
        return None
    return steps.filter(
        Q(station__in=[s.pk for s in stations])
        | Q(
            additional_station_ae_titles__gt="",
            additional_station_ae_titles__regex=matching.multi_value_regex(
                matching.literal_regex(s.scheduled_station_ae_title) for s in stations
            ),
        )
    )


# --- arriving studies (worklist/services/studies.py) ---------------------------------


@audited(
    Action.PROCEDURE_RECORD,
    patient=audit_subjects.study_patient,
    objects=audit_subjects.study_objects,
)
def study_list() -> QuerySet[Study]:
    """Arrived studies with their order, patient and latest decision."""
    return Study.objects.select_related("order__patient", "decision")


def study_get(*, pk: int, user=None) -> Study:
    """One study with its series (instance counts, arrival), its decisions, its
    discrepancies and its order: what the exception page and the API show."""
    return (
        study_list()
        .prefetch_related(
            "series",
            Prefetch(
                "decisions",
                queryset=StudyDecision.objects.select_related("decided_by", "resolved_by"),
            ),
            "discrepancies",
        )
        .get(pk=pk)
    )


def study_exceptions(*, outcome: str = "") -> QuerySet[Study]:
    """Open exceptions (an outcome other than MATCHED, or a discrepancy) waiting for a
    person, oldest first."""
    studies = study_list().filter(exception_open=True)
    if outcome:
        studies = studies.filter(outcome=outcome)
    return studies.order_by("first_received_at", "pk")


def study_exception_counts() -> dict[str, int]:
    """Open exceptions per outcome, for the navigation: counts, no patient data."""
    rows = (
        Study.objects.filter(exception_open=True)
        .values_list("outcome")
        .annotate(count=Count("pk"))
        .order_by()
    )
    return dict(rows)


def order_studies(*, order: Order, user=None) -> list[Study]:
    """The studies reconciled to an order, each with its series, newest first."""
    return list(
        study_list().filter(order=order).prefetch_related("series").order_by("-first_received_at")
    )


def series_instances(*, series: Series, user=None) -> list[Instance]:
    """The instances of a series in instance number order (the preview picks the middle
    one); not audited by itself: reading a series needs its study, which is."""
    return list(series.instances.all())


@audited(
    Action.ORDER_RECORD, patient=lambda order: order.patient, objects=audit_subjects.order_objects
)
def study_link_candidates(
    *, study: Study, accession_number: str = "", days: int = 3, limit: int = 50, user=None
) -> list[Order]:
    """Orders a study may be linked to: with `accession_number`, the orders whose
    accession number starts with it; otherwise the orders of the same patient ID first,
    then those with a step of one of the study's modalities within `days` of the study
    date (or of its arrival)."""
    orders = Order.objects.select_related("patient").prefetch_related(
        "requested_procedures",
        Prefetch(
            "requested_procedures__scheduled_procedure_steps",
            queryset=ScheduledProcedureStep.objects.select_related("station"),
        ),
    )
    if accession_number:
        return list(orders.filter(accession_number__startswith=accession_number)[:limit])
    found: dict[int, Order] = {}
    if study.patient_id:
        for order in orders.filter(patient__patient_id=study.patient_id).order_by("-created_at")[
            :limit
        ]:
            found.setdefault(order.pk, order)
    day = study.study_date or timezone.localdate(study.first_received_at)
    start, _ = local_day_bounds(day - timedelta(days=days))
    _, end = local_day_bounds(day + timedelta(days=days))
    nearby = (
        orders.filter(
            requested_procedures__scheduled_procedure_steps__modality__in=study.modalities,
            requested_procedures__scheduled_procedure_steps__start__gte=start,
            requested_procedures__scheduled_procedure_steps__start__lt=end,
        )
        .exclude(status=OrderStatus.CANCELLED)
        .distinct()
        .order_by("-created_at")[:limit]
    )
    for order in nearby:
        found.setdefault(order.pk, order)
    return list(found.values())[:limit]


@audited(
    Action.PROCEDURE_RECORD,
    patient=lambda decision: audit_subjects.study_patient(decision.study),
    objects=lambda decision: audit_subjects.study_objects(decision.study),
)
def study_decision_list() -> QuerySet[StudyDecision]:
    """Reconciliation decisions with their study (the evidence names demographics)."""
    return StudyDecision.objects.select_related("study__order__patient", "order")


@audited(
    Action.PROCEDURE_RECORD,
    patient=lambda discrepancy: audit_subjects.study_patient(discrepancy.study),
    objects=lambda discrepancy: audit_subjects.study_objects(discrepancy.study),
)
def study_discrepancy_list() -> QuerySet[StudyDiscrepancy]:
    """Discrepancies with their study (the values are patient data)."""
    return StudyDiscrepancy.objects.select_related("study__order__patient")


@audited(
    Action.INSTANCES_ACCESSED,
    patient=lambda instance: audit_subjects.study_patient(instance.series.study),
    objects=audit_subjects.instance_objects,
)
def series_preview_instance(*, pk: int, user=None) -> Instance:
    """The instance a series' preview shows: the middle one, in instance number order,
    of those whose file is kept. Looking at it is a read of patient data (DICOM
    Instances Accessed); DoesNotExist when no file of the series is kept."""
    kept = (
        Instance.objects.filter(series_id=pk)
        .exclude(file="")
        .select_related("series__study__order__patient")
    )
    count = kept.count()
    if not count:
        raise Instance.DoesNotExist(f"No file of series {pk} is kept.")
    return kept[count // 2]


def series_with_files(*, series_ids: list[int]) -> set[int]:
    """Which of these series have a kept file (so a preview): ids only, not audited."""
    return set(
        Instance.objects.filter(series_id__in=series_ids)
        .exclude(file="")
        .values_list("series_id", flat=True)
        .distinct()
    )


@audited(
    Action.INSTANCES_ACCESSED,
    patient=audit_subjects.study_patient,
    objects=audit_subjects.study_objects,
)
def study_for_viewer(*, pk: int, user=None) -> Study:
    """A study about to be opened in the image viewer (RIS_VIEWER_URL): the RIS hands
    the person on to its images, and records that it did."""
    return Study.objects.select_related("order__patient").get(pk=pk)


@audited(Action.PATIENT_RECORD, patient=lambda patient: patient)
def possible_duplicates(
    *,
    patient_id: str = "",
    issuer_of_patient_id: str = "",
    patient_name: str = "",
    patient_birth_date: date | None = None,
    exclude: int | None = None,
    user=None,
    limit: int = 20,
) -> list[Patient]:
    """Registered patients who may be the one about to be registered: born the same day
    with a similar name (worklist.names.similar: accents, case and order of the name
    parts ignored), or holding the same patient ID under another issuer."""
    found = {}
    if patient_id:
        for patient in Patient.objects.filter(patient_id__iexact=patient_id.strip()).exclude(
            issuer_of_patient_id=issuer_of_patient_id
        )[:limit]:
            found[patient.pk] = patient
    if patient_birth_date is not None and patient_name:
        for patient in Patient.objects.filter(patient_birth_date=patient_birth_date)[:1000]:
            if names.similar(patient.patient_name, patient_name):
                found.setdefault(patient.pk, patient)
    found.pop(exclude, None)
    return list(found.values())[:limit]
