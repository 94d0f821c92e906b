"""Reads of the audit trail for compliance review: search, the per-patient access
report (GDPR Art. 15), unusual access, and exports. The callers (UI, API, command)
record their own use of the trail as Audit Log Used / Export events."""

from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q, QuerySet, Window

from . import conf, dicom_xml, rollup
from .codes import Action, Channel, Verb
from .models import Event, EventPatient

PAGE_SIZE = 50


@dataclass
class EventSearch:
    """Filters of the event search; empty ones do not filter. `issuer` None matches
    any issuer of the patient ID, "" only IDs without one."""

    patient_id: str = ""
    issuer: str | None = None
    user: str = ""
    ae_title: str = ""
    action: str = ""
    outcome: int | None = None
    channel: str = ""
    since: datetime | None = None
    until: datetime | None = None
    through_seq: int | None = None

    def freeze(self) -> "EventSearch":
        """Leave out events written after now: an export does not list the event
        that records the export itself."""
        self.through_seq = Event.objects.order_by("-seq").values_list("seq", flat=True).first()
        return self

    def _event_filters(self, prefix: str = "") -> Q:
        q = Q()
        if self.user:
            q &= Q(**{f"{prefix}username": self.user})
        for name in ("ae_title", "action", "channel"):
            if getattr(self, name):
                q &= Q(**{f"{prefix}{name}": getattr(self, name)})
        if self.outcome is not None:
            q &= Q(**{f"{prefix}event_outcome_indicator": self.outcome})
        if self.through_seq is not None:
            q &= Q(**{f"{prefix}seq__lte": self.through_seq})
        return q

    def _time_filters(self) -> Q:
        q = Q()
        if self.since:
            q &= Q(event_date_time__gte=self.since)
        if self.until:
            q &= Q(event_date_time__lt=self.until)
        return q

    def patient_rows(self) -> QuerySet[EventPatient]:
        rows = EventPatient.objects.filter(patient_id=self.patient_id)
        if self.issuer is not None:
            rows = rows.filter(issuer_of_patient_id=self.issuer)
        return rows.filter(self._time_filters(), self._event_filters("event__"))

    def events(self) -> QuerySet[Event]:
        """Matching events, newest first."""
        if self.patient_id:
            return Event.objects.filter(seq__in=self.patient_rows().values("event_id"))
        return Event.objects.filter(self._time_filters(), self._event_filters())

    def patients_named(self) -> list[tuple[str, str]]:
        """The patients the search is about, to record its use against: with any
        issuer, each issuer the trail knows that patient ID under."""
        if not self.patient_id:
            return []
        if self.issuer is not None:
            return [(self.patient_id, self.issuer)]
        issuers = (
            EventPatient.objects.filter(patient_id=self.patient_id)
            .values_list("issuer_of_patient_id", flat=True)
            .distinct()[:20]
        )
        return [(self.patient_id, issuer) for issuer in issuers] or [(self.patient_id, "")]

    def describe(self) -> str:
        """The filters, for the detail of the event recording the search (the patient
        searched for is recorded as the event's patient, not repeated here)."""
        parts = [
            f"{name}={getattr(self, name)}"
            for name in ("user", "ae_title", "action", "outcome", "channel", "since", "until")
            if getattr(self, name) not in ("", None)
        ]
        if self.patient_id:
            parts.insert(0, "by patient")
        return ", ".join(parts) or "all events"


@dataclass
class EventPage:
    events: list[Event]
    older: int | None = None
    newer: int | None = None


def _page_ids(search: EventSearch, *, before: int | None, after: int | None, size: int):
    if search.patient_id:
        rows = search.patient_rows()
        key = "event_id"
    else:
        rows = search.events()
        key = "seq"
    if before is not None:
        rows = rows.filter(**{f"{key}__lt": before})
    if after is not None:
        rows = rows.filter(**{f"{key}__gt": after})
    order = key if after is not None else f"-{key}"
    ids = list(rows.order_by(order).values_list(key, flat=True).distinct()[: size + 1])
    return sorted(ids, reverse=True), len(ids) > size


def event_page(
    search: EventSearch,
    *,
    before: int | None = None,
    after: int | None = None,
    size: int = PAGE_SIZE,
) -> EventPage:
    """One page of matching events, newest first, by keyset (`before`/`after` a seq):
    every page costs the same however deep, over ten million events or more. The
    patient filter drives the per-patient index."""
    ids, more = _page_ids(search, before=before, after=after, size=size)
    ids = ids[-size:] if after is not None else ids[:size]
    events = list(Event.objects.filter(seq__in=ids).prefetch_related("patients").order_by("-seq"))
    page = EventPage(events=events)
    if events:
        older_exists = more if after is None else True
        newer_exists = before is not None or (after is not None and more)
        page.older = events[-1].seq if older_exists else None
        page.newer = events[0].seq if newer_exists else None
    return page


# --- the per-patient access report --------------------------------------------------


@dataclass
class ActorSummary:
    user: str
    ae_title: str
    role: str
    channel: str
    accesses: int
    reads: int
    changes: int
    first: datetime
    last: datetime

    @property
    def actor(self) -> str:
        return self.user or self.ae_title or self.channel_display

    @property
    def channel_display(self) -> str:
        return Channel(self.channel).label


@dataclass
class PatientReport:
    patient_id: str
    issuer: str | None
    since: datetime | None
    until: datetime | None
    actors: list[ActorSummary] = field(default_factory=list)
    page: EventPage = field(default_factory=lambda: EventPage(events=[]))

    @property
    def events(self) -> list[Event]:
        """The accesses of this page of the report, newest first."""
        return self.page.events


def patient_report(
    *,
    patient_id: str,
    issuer: str | None = None,
    since=None,
    until=None,
    before: int | None = None,
    after: int | None = None,
    size: int = PAGE_SIZE,
) -> PatientReport:
    """Every access to one patient in the period, grouped by actor (GDPR Art. 15:
    who saw or changed my data, when, from where), and one page of the accesses
    themselves, by keyset like the search (the CSV has them all)."""
    search = EventSearch(patient_id=patient_id, issuer=issuer, since=since, until=until)
    report = PatientReport(patient_id=patient_id, issuer=issuer, since=since, until=until)
    report.actors = _actor_summaries(search)
    report.page = event_page(search, before=before, after=after, size=size)
    return report


def _actor_summaries(search: EventSearch) -> list[ActorSummary]:
    """The report's accesses grouped by actor: each of the patient's events once (a
    semi-join of its patient rows), its actor columns read from the covering index
    audit_event_actor alone (migration 0008), not from the events' table."""
    events = Event.objects.filter(seq__in=search.patient_rows().values("event_id"))
    grouped = (
        events.values("username", "ae_title", "role", "channel")
        .annotate(
            accesses=Count("seq"),
            reads=Count("seq", filter=Q(event_action_code=Verb.READ)),
            changes=Count(
                "seq", filter=Q(event_action_code__in=[Verb.CREATE, Verb.UPDATE, Verb.DELETE])
            ),
            first=Min("event_date_time"),
            last=Max("event_date_time"),
        )
        .order_by("-accesses", "username", "ae_title")
    )
    return [
        ActorSummary(
            user=g["username"],
            ae_title=g["ae_title"],
            role=g["role"],
            channel=g["channel"],
            accesses=g["accesses"],
            reads=g["reads"],
            changes=g["changes"],
            first=g["first"],
            last=g["last"],
        )
        for g in grouped
    ]


def report_rows(search: EventSearch) -> Iterator[list[str]]:
    """The CSV of a report or search: one line per event, all of them, oldest first."""
    yield [
        "seq",
        "event_date_time_utc",
        "actor",
        "user",
        "role",
        "ae_title",
        "source_ip",
        "source_port",
        "channel",
        "action",
        "event_action_code",
        "outcome",
        "patients",
        "objects",
        "correlation_id",
        "detail",
    ]
    events = search.events().order_by("seq").prefetch_related("patients")
    for event in events.iterator(chunk_size=2000):
        yield [
            str(event.seq),
            event.event_date_time.isoformat(timespec="microseconds"),
            event.actor,
            event.username,
            event.role,
            event.ae_title,
            event.source_ip or "",
            "" if event.source_port is None else str(event.source_port),
            event.channel,
            Action(event.action).label,
            event.event_action_code,
            event.get_event_outcome_indicator_display(),
            " ".join(
                dicom_xml.patient_object_id(p.patient_id, p.issuer_of_patient_id)
                for p in event.patients.all()
            ),
            " ".join(f"{kind}={value}" for kind, value in event.participant_objects),
            event.correlation_id,
            event.detail,
        ]


def export_document(search: EventSearch) -> Iterable[str]:
    events = search.events().order_by("seq").prefetch_related("patients")
    return dicom_xml.document(events.iterator(chunk_size=2000))


# --- unusual access -------------------------------------------------------------------

PATIENT_DATA_ACTIONS = [
    Action.PATIENT_RECORD,
    Action.ORDER_RECORD,
    Action.PROCEDURE_RECORD,
    Action.QUERY,
    Action.INSTANCES_ACCESSED,
    Action.EXPORT,
]
UNUSUAL_LIMIT = 200


class OpenedRecord(NamedTuple):
    """A patient's record opened by a person: an event of a user on patient data that
    names exactly one patient (a list page that showed many is not an opening)."""

    seq: int
    moment: datetime
    user_pk: int
    user: str
    patient: tuple[str, str]


def _opened_rows(since: datetime, until: datetime, user_pks: Iterable[int] | None = None):
    """The period's opened records as rows named seq, moment, user_pk_, user, pid,
    issuer. The patient rows come from a range scan of their own time index (each row
    carries its event's time), their events from the events' time index, both
    covering (migration 0008); an event's patients are counted over the same rows
    (all of an event's rows share its time), so no row is looked up one by one."""
    rows = EventPatient.objects.filter(
        event_date_time__gte=since,
        event_date_time__lt=until,
        event__event_date_time__gte=since,
        event__event_date_time__lt=until,
        event__user_pk__isnull=False,
        event__action__in=PATIENT_DATA_ACTIONS,
    )
    if user_pks is not None:
        rows = rows.filter(event__user_pk__in=user_pks)
    return (
        rows.annotate(named=Window(Count("event_id"), partition_by=[F("event_id")]))
        .filter(named=1)
        .values(
            seq=F("event_id"),
            moment=F("event__event_date_time"),
            user_pk_=F("event__user_pk"),
            user=F("event__username"),
            pid=F("patient_id"),
            issuer=F("issuer_of_patient_id"),
        )
    )


def opened_records(
    *, since: datetime, until: datetime, user_pks: Iterable[int] | None = None
) -> list[OpenedRecord]:
    """The records opened in the period (by these users, if given), oldest first."""
    rows = _opened_rows(since, until, user_pks).order_by("seq")
    return [
        OpenedRecord(r["seq"], r["moment"], r["user_pk_"], r["user"], (r["pid"], r["issuer"]))
        for r in rows
    ]


def _opened_per_hour(
    since: datetime, until: datetime, *, per_user: bool = False
) -> tuple[str, list]:
    """SQL (and its parameters) of the period's opened records as rows of user_pk, pid,
    issuer, hour, opened (a count) and last_seq: the whole hours the roll-up holds
    from OpenedHour (audit.rollup), the rest (the period's ragged ends, the hours not
    rolled up yet) from the trail, one row per opened record. `per_user`: rows of
    user_pk, hour and opened only, the whole hours from OpenedUserHour (one row per
    user and hour instead of one per user, patient and hour)."""
    done = rollup.rolled_up_until()
    first, end = rollup.first_whole_hour(since), rollup.hour_number(until)
    parts, params, raw = [], [], [(since, until)]
    if done is not None and first < min(end, done):
        end = min(end, done)
        parts.append(
            "SELECT user_pk, hour, opened FROM audit_openeduserhour WHERE hour >= %s AND hour < %s"
            if per_user
            else "SELECT user_pk, patient_id AS pid, issuer_of_patient_id AS issuer, hour, "
            "opened, last_seq FROM audit_openedhour WHERE hour >= %s AND hour < %s"
        )
        params += [first, end]
        raw = [(since, rollup.hour_start(first)), (rollup.hour_start(end), until)]
    hour = rollup.hour_sql('"moment"')
    columns = (
        f'"user_pk_" AS user_pk, {hour} AS hour, 1 AS opened'
        if per_user
        else f'"user_pk_" AS user_pk, "pid", "issuer", {hour} AS hour, '
        '1 AS opened, "seq" AS last_seq'
    )
    for start, stop in raw:
        if start < stop or not parts:
            inner, inner_params = _opened_rows(start, stop).query.sql_with_params()
            # the inner query is the ORM's, with its parameters
            parts.append(f"SELECT {columns} FROM ({inner}) opened")  # noqa: S608
            params += inner_params
    return " UNION ALL ".join(parts), params


def _users_who_may_burst(since, until, threshold: int, window: timedelta) -> list[int]:
    """The users with `threshold` opened records within the hours a window can span
    (any window of up to k hours lies within k + 1 consecutive hours), counted in the
    database per user and hour (audit.rollup, OpenedUserHour): only their records are
    read. Each hour's count goes to the k + 1 runs of hours that hold it (the run
    starting at that hour and the k before it), so one grouping counts them all, with
    no sort for a window function."""
    source, params = _opened_per_hour(since, until, per_user=True)
    spans = -(-int(window.total_seconds()) // 3600)
    shifts = " UNION ALL ".join(f"SELECT {shift} AS shift" for shift in range(int(spans) + 1))
    # the source is the ORM's and the roll-up's, with its parameters; the rest are integers
    sql = f"""
        SELECT DISTINCT user_pk FROM (
            SELECT user_pk FROM ({source}) per_hour CROSS JOIN ({shifts}) shifts
            GROUP BY user_pk, hour - shift HAVING SUM(opened) >= {int(threshold)}
        ) runs
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [user_pk for (user_pk,) in cursor.fetchall()]


@dataclass
class BurstOfPatients:
    user: str
    patients: int
    window_start: datetime
    window_end: datetime


def many_patients_in_short_window(
    *,
    since: datetime,
    until: datetime,
    threshold: int | None = None,
    minutes: int | None = None,
    opened: list[OpenedRecord] | None = None,
) -> list[BurstOfPatients]:
    """Users who opened at least `threshold` distinct patients within `minutes`: the
    largest such window per user. `opened`: the period's opened records, if read;
    otherwise only the records of users who could have such a window are read, those
    opening at least `threshold` records within two consecutive windows' worth of
    time (counted in the database)."""
    threshold = threshold or conf.get("AUDIT_UNUSUAL_PATIENTS")
    window = timedelta(minutes=minutes or conf.get("AUDIT_UNUSUAL_WINDOW_MINUTES"))
    if opened is None:
        user_pks = _users_who_may_burst(since, until, threshold, window)
        opened = opened_records(since=since, until=until, user_pks=user_pks) if user_pks else []
    by_user: dict[str, list[OpenedRecord]] = {}
    for record in opened:
        by_user.setdefault(record.user, []).append(record)
    found = []
    for user, records in by_user.items():
        if _may_burst(records, threshold, window):
            burst = _largest_window(user, records, threshold, window)
            if burst:
                found.append(burst)
    return sorted(found, key=lambda b: -b.patients)


def _may_burst(records: list[OpenedRecord], threshold: int, window: timedelta) -> bool:
    """Whether some `window` could hold `threshold` of these records: any window lies
    within two consecutive buckets of its length."""
    if len(records) < threshold:
        return False
    span = window.total_seconds()
    buckets = Counter(int(r.moment.timestamp() // span) for r in records)
    return any(count + buckets.get(b + 1, 0) >= threshold for b, count in buckets.items())


def _largest_window(user, records, threshold, window) -> BurstOfPatients | None:
    best, recent, counts = None, deque(), Counter()
    for record in sorted(records, key=lambda r: r.moment):
        moment = record.moment
        recent.append((moment, record.patient))
        counts[record.patient] += 1
        while recent[0][0] < moment - window:
            _, old = recent.popleft()
            counts[old] -= 1
            if not counts[old]:
                del counts[old]
        if len(counts) >= threshold and (best is None or len(counts) > best.patients):
            best = BurstOfPatients(user, len(counts), recent[0][0], moment)
    return best


def _outside_working_hours(since: datetime, until: datetime) -> QuerySet[Event]:
    hours = conf.working_hours()
    off_hours = (
        Q(event_date_time__time__lt=hours.opens)
        | Q(event_date_time__time__gte=hours.closes)
        | ~Q(event_date_time__iso_week_day__in=[d + 1 for d in hours.weekdays])
    )
    with_patients = EventPatient.objects.filter(event_id=OuterRef("seq"))
    return Event.objects.filter(
        off_hours,
        event_date_time__gte=since,
        event_date_time__lt=until,
        user_pk__isnull=False,
        action__in=PATIENT_DATA_ACTIONS,
    ).filter(Exists(with_patients))


def outside_working_hours(*, since: datetime, until: datetime) -> QuerySet[Event]:
    """Accesses to patient data by a person outside working hours (local time)."""
    return (
        _outside_working_hours(since, until)
        .prefetch_related("patients")
        .order_by("-seq")[:UNUSUAL_LIMIT]
    )


def outside_working_hours_page(
    *, since: datetime, until: datetime, before: int | None = None, size: int = PAGE_SIZE
) -> EventPage:
    """One page of the accesses outside working hours, newest first, by keyset
    (`before` a seq): `older` is where the next page starts. The page's seqs come
    from the period's index alone (audit_event_opened), then its events by key."""
    rows = _outside_working_hours(since, until)
    if before is not None:
        rows = rows.filter(seq__lt=before)
    seqs = list(rows.order_by("-seq").values_list("seq", flat=True)[: size + 1])
    events = Event.objects.filter(seq__in=seqs[:size]).prefetch_related("patients")
    page = EventPage(events=list(events.order_by("-seq")))
    if len(seqs) > size:
        page.older = seqs[size - 1]
    return page


@dataclass
class UnrelatedAccess:
    user: str
    patient_id: str
    issuer: str
    accesses: int
    last: datetime
    user_pk: int | None = None
    last_seq: int = 0


def _family_given(person_name: str) -> str:
    """Folded Family^Given of a DICOM PN, to compare a user with a physician."""
    from worklist import names

    family_given = names.components(names.search_key(person_name))[:2]
    return names.from_components(*family_given).strip()


def _person_name_key(first: str, last: str) -> str:
    return _family_given(f"{last}^{first}")


def _physicians_of(patients: set[tuple[str, str]]) -> dict[tuple[str, str], set[str]]:
    """Folded Family^Given of the referring, requesting and performing physicians on
    the orders of these patients (internal use: not shown, not audited). The orders
    are looked up by patient ID (one IN list, not an OR per patient), then kept for
    the patients' issuers."""
    from worklist.models import Order, ScheduledProcedureStep

    if not patients:
        return {}
    patient_ids = {patient_id for patient_id, _ in patients}
    names: dict[tuple[str, str], set[str]] = {}
    orders = Order.objects.filter(patient__patient_id__in=patient_ids).values_list(
        "patient__patient_id",
        "patient__issuer_of_patient_id",
        "referring_physician_name",
        "requesting_physician",
    )
    for patient_id, issuer, *physicians in orders:
        if (patient_id, issuer) in patients:
            names.setdefault((patient_id, issuer), set()).update(physicians)
    steps = ScheduledProcedureStep.objects.filter(
        requested_procedure__order__patient__patient_id__in=patient_ids
    ).values_list(
        "requested_procedure__order__patient__patient_id",
        "requested_procedure__order__patient__issuer_of_patient_id",
        "scheduled_performing_physician_name",
    )
    for patient_id, issuer, physician in steps:
        if (patient_id, issuer) in patients:
            names.setdefault((patient_id, issuer), set()).add(physician)
    return {key: {_family_given(n) for n in found if n} for key, found in names.items()}


def _booked_by(user_pks: set[int], patients: set[tuple[str, str]]) -> set[tuple]:
    """(user_pk, patient) pairs where the user booked or changed one of the patient's
    orders, as the trail shows."""
    rows = EventPatient.objects.filter(
        event__user_pk__in=user_pks,
        event__action=Action.ORDER_RECORD,
        event__event_action_code__in=[Verb.CREATE, Verb.UPDATE],
        event__event_outcome_indicator=0,
        patient_id__in={p for p, _ in patients},
    ).values_list("event__user_pk", "patient_id", "issuer_of_patient_id")
    return {(pk, (patient_id, issuer)) for pk, patient_id, issuer in rows}


def _unrelated_pairs(opened: list[OpenedRecord]) -> list[list]:
    """(user, patient) pairs of the opened records, the most recent first, each with
    its count and the seq of its last access (a pair's own, hence the keyset)."""
    pairs: dict[tuple, list] = {}
    for record in opened:  # in seq order: the last one seen is the pair's last
        pair = pairs.get((record.user_pk, record.patient))
        if pair is None:
            pairs[(record.user_pk, record.patient)] = [record, 1]
        else:
            pair[0] = record
            pair[1] += 1
    return sorted(pairs.values(), key=lambda pair: -pair[0].seq)


def _access(last: OpenedRecord, count: int) -> UnrelatedAccess:
    return UnrelatedAccess(last.user, *last.patient, count, last.moment, last.user_pk, last.seq)


def _related(candidates: list[UnrelatedAccess]) -> set[tuple]:
    """The (user_pk, patient) pairs among the candidates with an order relationship."""
    patients = {(p.patient_id, p.issuer) for p in candidates}
    user_pks = {p.user_pk for p in candidates}
    related = _booked_by(user_pks, patients)
    physicians = _physicians_of(patients)
    users = {
        u.pk: _person_name_key(u.first_name, u.last_name)
        for u in get_user_model().objects.filter(pk__in=user_pks)
        if u.last_name
    }
    for pair in candidates:
        patient = (pair.patient_id, pair.issuer)
        if users.get(pair.user_pk) in physicians.get(patient, ()):
            related.add((pair.user_pk, patient))
    return related


@dataclass
class UnrelatedPage:
    accesses: list[UnrelatedAccess]
    older: int | None = None


NEWEST_ROWS_PER_PAIR = 4
# the period's last hours that give _newest_rows its floor
RECENT_HOURS = 24


def _unrelated_candidates(since, until, before: int | None, size: int) -> list[UnrelatedAccess]:
    """Up to `size` (user, patient) pairs of the period's opened records whose last
    access is before `before`, the most recent first, each with its count over the
    period; then the last access of each read by key for its time and user name.

    Not the whole period grouped for one page: a pair's last access is its newest row
    (whole hours from the roll-up, the ragged ends from the trail, _opened_per_hour),
    so the newest rows before `before` name the pairs in order of their last access.
    Those pairs alone are then counted over the period, and dropped if they were
    opened again at or after `before` (a previous page showed them). If too few are
    left, the next newest rows are read the same way."""
    source = _opened_per_hour(since, until)
    recent_since = rollup.hour_start(rollup.hour_number(until) - RECENT_HOURS)
    recent = _opened_per_hour(recent_since, until) if recent_since > since else None
    rows_wanted = NEWEST_ROWS_PER_PAIR * size
    found: list[tuple] = []
    while len(found) < size:
        newest = _newest_rows(source, recent, before, rows_wanted)
        order = list(dict.fromkeys(row[:3] for row in newest))
        counted = _counted_pairs(*source, order)
        for pair in order:
            count, last_seq = counted[pair]
            if before is None or last_seq < before:
                found.append((*pair, count, last_seq))
        if len(newest) < rows_wanted:
            break
        before = newest[-1][3]
    found = found[:size]
    last = Event.objects.in_bulk([seq for *_, seq in found])
    return [
        UnrelatedAccess(
            last[seq].username, pid, issuer, count, last[seq].event_date_time, user_pk, seq
        )
        for user_pk, pid, issuer, count, seq in found
    ]


def _newest_rows(
    source: tuple[str, list], recent: tuple[str, list] | None, before: int | None, limit: int
) -> list[tuple]:
    """(user_pk, pid, issuer, last_seq) of the period's `limit` newest rows before
    `before` (a top-N sort of the period's rows, not a grouping). `recent`: the same
    rows of the period's last hours (from an hour's start, so each of them is a row of
    the period too): the `limit`-th newest of those is a floor below which none of the
    period's newest can be, so only the period's rows above it are sorted."""
    sql, params = source
    before_sql, before_params = ("AND last_seq < %s", [before]) if before is not None else ("", [])
    floor_sql, floor_params = "-1", []
    if recent is not None:
        # the source is the ORM's and the roll-up's, with its parameters
        floor_sql = f"""COALESCE((
            SELECT last_seq FROM ({recent[0]}) recent WHERE 1 = 1 {before_sql}
            ORDER BY last_seq DESC LIMIT 1 OFFSET {int(limit) - 1}
        ), -1)"""  # noqa: S608
        floor_params = [*recent[1], *before_params]
    # the source is the ORM's and the roll-up's, with its parameters; the rest are integers
    query = f"""
        SELECT user_pk, pid, issuer, last_seq FROM ({sql}) per_hour
        WHERE last_seq >= {floor_sql} {before_sql}
        ORDER BY last_seq DESC LIMIT {int(limit)}
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(query, [*params, *floor_params, *before_params])
        return cursor.fetchall()


def _counted_pairs(source: str, params: list, pairs: list[tuple]) -> dict[tuple, tuple]:
    """For each of these (user_pk, pid, issuer) pairs, its count and last seq over the
    period: only the period's rows naming one of their patients are grouped."""
    if not pairs:
        return {}
    pids = sorted({pid for _, pid, _ in pairs})
    marks = ", ".join(["%s"] * len(pids))
    # the source is the ORM's and the roll-up's, with its parameters; the rest are marks
    sql = f"""
        SELECT user_pk, pid, issuer, SUM(opened), MAX(last_seq)
        FROM ({source}) per_hour WHERE pid IN ({marks}) GROUP BY 1, 2, 3
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *pids])
        counted = {
            (user_pk, pid, issuer): (count, seq) for user_pk, pid, issuer, count, seq in cursor
        }
    return {pair: counted[pair] for pair in pairs}


def without_order_relationship_page(
    *,
    since: datetime,
    until: datetime,
    before: int | None = None,
    size: int = PAGE_SIZE,
    opened: list[OpenedRecord] | None = None,
) -> UnrelatedPage:
    """One page of the records opened by a user who neither booked nor changed an
    order of that patient, nor is named on one as referring, requesting or performing
    physician; most recent first, by keyset (`before`: the seq of a pair's last
    access). The newest pairs are found and counted in the database
    (_unrelated_candidates; or from `opened`, if read) and their relationships looked
    up for two pages' worth of candidates at a time."""
    found: list[UnrelatedAccess] = []
    # twice a page's worth at a time: a page rarely needs a second round
    wanted = 2 * (size + 1)
    while len(found) <= size:
        if opened is None:
            candidates = _unrelated_candidates(since, until, before, wanted)
        else:
            pairs = [p for p in _unrelated_pairs(opened) if before is None or p[0].seq < before]
            candidates = [_access(*pair) for pair in pairs[:wanted]]
        if not candidates:
            break
        related = _related(candidates)
        found += [p for p in candidates if (p.user_pk, (p.patient_id, p.issuer)) not in related]
        before = candidates[-1].last_seq
    page = UnrelatedPage(accesses=found[:size])
    if len(found) > size:
        page.older = found[size - 1].last_seq
    return page


def without_order_relationship(*, since: datetime, until: datetime) -> list[UnrelatedAccess]:
    """Records opened by a user who neither booked nor changed an order of that
    patient, nor is named on one as referring, requesting or performing physician."""
    return without_order_relationship_page(since=since, until=until, size=UNUSUAL_LIMIT).accesses
