"""Arriving studies: intake (C-STORE, IAN, the PACS poll), reconciliation against the
orders, and the actions people take on the exceptions.

Intake records first, in the database, in one transaction per instance (or per
announcement): a study is never lost because a broker or a worker is down. Each
change that calls for a decision bumps the study's `revision` and sets
`reconcile_after` to the end of its quiet period; `study_reconcile` decides a due
study under its row lock and records one StudyDecision per revision (a database
constraint), so two workers picking the same study record one outcome.

The DICOM handlers (worklist/dicom/store.py, ian.py), the PACS poll and the Celery
tasks (worklist/tasks.py) call the functions here; so do the exceptions page and the
REST API for `study_link`, `study_create_order`, `study_accept_order_demographics` and
`study_resolve`, each audited and answering Conflict when someone acted first.
"""

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from audit import services as audit
from audit.audited import audited
from audit.codes import Action, ObjectKind, Verb
from ris.errors import Conflict, Invalid
from worklist import identifiers, names
from worklist.audit_subjects import study_objects, study_patient
from worklist.models import (
    EXCEPTION_OUTCOMES,
    ArrivalSource,
    Instance,
    Order,
    OrderEvent,
    OrderStatus,
    PerformedProcedureStep,
    PerformedStepStatus,
    RequestedProcedure,
    ScheduledProcedureStep,
    Series,
    Station,
    StepStatus,
    Study,
    StudyDecision,
    StudyDiscrepancy,
    StudyOutcome,
)

from . import history
from .patients import patient_for_order

logger = logging.getLogger(__name__)

# Attributes of the patient and the study that identify whom and what an instance is
# about: compared between copies of an instance and between an instance and its study.
PATIENT_FIELDS = (
    "patient_id",
    "issuer_of_patient_id",
    "patient_name",
    "patient_birth_date",
    "patient_sex",
)
STUDY_FIELDS = (
    "accession_number",
    "study_id",
    "study_date",
    "study_time",
    "study_description",
    "referring_physician_name",
)
SERIES_FIELDS = (
    "series_number",
    "modality",
    "series_description",
    "body_part_examined",
    "protocol_name",
    "station_name",
    "series_date",
    "series_time",
    "performed_procedure_step_id",
)
IDENTIFYING = (*PATIENT_FIELDS, "accession_number")
KEYWORDS = {
    "patient_id": "PatientID",
    "issuer_of_patient_id": "IssuerOfPatientID",
    "patient_name": "PatientName",
    "patient_birth_date": "PatientBirthDate",
    "patient_sex": "PatientSex",
    "accession_number": "AccessionNumber",
    "study_instance_uid": "StudyInstanceUID",
    "series_instance_uid": "SeriesInstanceUID",
    "sop_class_uid": "SOPClassUID",
}


class StoreRefused(Exception):
    """An instance the RIS cannot keep: the handler answers `status` with `comment`."""

    def __init__(self, status: int, comment: str):
        super().__init__(comment)
        self.status = status
        self.comment = comment


# --- intake ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InstanceHeader:
    """What intake needs of an instance: its UIDs and the attributes of each level, keyed
    by the model field names (worklist/dicom/study_attributes.py reads them)."""

    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    series_instance_uid: str
    instance_number: int | None = None
    patient: dict = field(default_factory=dict)
    study: dict = field(default_factory=dict)
    series: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Received:
    """What intake did with an instance: `created` is False for a second copy (which
    changed nothing but may have recorded discrepancies)."""

    instance: Instance
    created: bool
    discrepancies: int = 0


def quiet_period() -> timedelta:
    return timedelta(seconds=settings.RIS_RECONCILE_QUIET_SECONDS)


def instance_received(
    *,
    header: InstanceHeader,
    calling_ae_title: str,
    transfer_syntax_uid: str = "",
    file_bytes: Callable[[], bytes] | None = None,
    audit_transfer: bool = True,
) -> Received:
    """Record a stored instance (C-STORE) and, when files are kept (`file_bytes` given),
    its file, before the sender hears Success.

    The file is written under a temporary name, fsynced and renamed inside the
    transaction; if the transaction then fails it is removed again, so neither a
    partial file nor a file without its record stays visible. A second copy of an
    instance changes nothing; where its identifying attributes differ from the first
    copy's the differences are recorded as discrepancies of the study.

    `audit_transfer`: record a "DICOM Instances Transferred" event (the handler asks
    for one per study and association, not one per instance).
    """
    written: list[Path] = []
    try:
        try:
            return _record_instance(
                header, calling_ae_title, transfer_syntax_uid, file_bytes, audit_transfer, written
            )
        except IntegrityError:
            # The same instance, or the same new series, stored by a racing association
            # since we looked (its insert came first; the look's subqueries see the
            # statement's snapshot): nothing of ours was kept, and the second look
            # finds theirs (a first copy's file, if any, stays).
            return _record_instance(
                header, calling_ae_title, transfer_syntax_uid, file_bytes, audit_transfer, written
            )
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


@transaction.atomic
def _record_instance(
    header, calling_ae_title, transfer_syntax_uid, file_bytes, audit_transfer, written
) -> Received:
    """One transaction of few statements. The common case (a further instance of a
    known series): the study locked with what is held of the instance and its series
    (one statement), then the instance inserted and the series' and the study's counts
    updated (one statement on PostgreSQL, three elsewhere)."""
    now = timezone.now()
    study, held, series_id = _look(header)
    if held is not None:
        existing = _existing_instance(header.sop_instance_uid)
        if held == ArrivalSource.STORE:
            return Received(
                existing,
                created=False,
                discrepancies=_second_copy(existing, header, calling_ae_title, now),
            )
        return _announced_now_stored(
            existing, header, calling_ae_title, transfer_syntax_uid, file_bytes, written, now
        )
    study_created = new_series = False
    if study is None:
        study, study_created = _locked_study(
            header.study_instance_uid,
            ArrivalSource.STORE,
            calling_ae_title,
            now,
            header.patient | header.study,
        )
    if series_id is None:
        series_id, new_series = _series_id(
            study, header.series_instance_uid, header.series, calling_ae_title, now
        )
    differs = {} if study_created else _differences(study, header.patient | header.study)
    instance = Instance(
        series_id=series_id,
        sop_instance_uid=header.sop_instance_uid,
        sop_class_uid=header.sop_class_uid,
        instance_number=header.instance_number,
        transfer_syntax_uid=transfer_syntax_uid,
        source=ArrivalSource.STORE,
        sending_ae_title=calling_ae_title[:16],
        received_at=now,
        differs=_plain(differs),
    )
    data = file_bytes() if file_bytes is not None else None
    if data is not None:
        instance.file, instance.file_size = str(file_path(header)), len(data)
    _fill_missing(study, header.patient | header.study)
    recorded = _record_discrepancies(
        study,
        header.sop_instance_uid,
        differs,
        StudyDiscrepancy.Kind.INCONSISTENT,
        calling_ae_title,
        now,
    )
    # No savepoint: an insert that collides (a racing copy, whose insert came first)
    # ends the transaction, and instance_received looks again.
    _insert_counted(instance, study, series_id, now, new_series=new_series or study_created)
    if data is not None:
        # Written only once the row is ours: no other copy's record names this path.
        keep_file(header, data, written)
    if audit_transfer:
        _audit_transfer(study, calling_ae_title)
    return Received(instance, created=True, discrepancies=recorded)


def _announced_now_stored(
    existing: Instance, header, calling_ae_title, transfer_syntax_uid, file_bytes, written, now
) -> Received:
    """An instance an archive announced (IAN) or the PACS reported, now stored here: its
    header fills what the study lacked and, when files are kept, its file is kept. The
    counts do not change: the instance was counted when announced."""
    study = Study.objects.select_for_update().get(pk=existing.series.study_id)
    _fill_missing(study, header.patient | header.study)
    existing.source = ArrivalSource.STORE
    existing.transfer_syntax_uid = transfer_syntax_uid
    existing.instance_number = header.instance_number
    existing.sending_ae_title = calling_ae_title[:16]
    fields = ["source", "transfer_syntax_uid", "instance_number", "sending_ae_title"]
    if file_bytes is not None:
        data = file_bytes()
        existing.file, existing.file_size = keep_file(header, data, written)
        fields += ["file", "file_size"]
    existing.save(update_fields=fields)
    return Received(existing, created=False)


def _look(header: InstanceHeader) -> tuple[Study | None, str | None, int | None]:
    """What is held of a stored instance: its study's row, locked (instances of one
    study are counted one after the other), the source of the instance when already
    held, the key of its series when known. One statement when the study is known;
    when not, the instance is looked up alone. Its SQL is written once (_look_sql):
    the ORM's building and compiling of this query took about 1.2 ms of the listener's
    CPU an image."""
    params = [header.sop_instance_uid, header.series_instance_uid, header.study_instance_uid]
    study = next(iter(Study.objects.raw(_look_sql(), params)), None)
    if study is None:
        return None, _held_instance(header.sop_instance_uid), None
    return study, study.held_source, study.series_key


@cache
def _look_sql() -> str:
    """The study by its UID, with what _look needs of its instance and series as
    subqueries; locked where the database locks rows (not SQLite)."""
    quote = connection.ops.quote_name

    def column(model, name: str) -> str:
        return quote(model._meta.get_field(name).column)

    study, series, instance = (quote(m._meta.db_table) for m in (Study, Series, Instance))
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    return (
        f"SELECT {study}.*,"  # noqa: S608 - names from the models, values as placeholders
        f" (SELECT {column(Instance, 'source')} FROM {instance}"
        f" WHERE {column(Instance, 'sop_instance_uid')} = %s LIMIT 1) AS held_source,"
        f" (SELECT {quote(Series._meta.pk.column)} FROM {series}"
        f" WHERE {column(Series, 'study')} = {study}.{quote(Study._meta.pk.column)}"
        f" AND {column(Series, 'series_instance_uid')} = %s LIMIT 1) AS series_key"
        f" FROM {study} WHERE {column(Study, 'study_instance_uid')} = %s{lock}"
    )


def _held_instance(sop_instance_uid: str) -> str | None:
    """The source of an instance already held, or None: a narrow look (the common
    case, a new instance, needs no more)."""
    return _unique(
        Instance.objects.filter(sop_instance_uid=sop_instance_uid).values_list("source", flat=True)
    )


def _existing_instance(sop_instance_uid: str) -> Instance | None:
    return _unique(
        Instance.objects.select_related("series__study").filter(sop_instance_uid=sop_instance_uid)
    )


def _unique(queryset):
    """The one row of a lookup by a unique key, or None. Without first()'s ordering:
    the models' default orderings join the series and study tables to sort one row."""
    return next(iter(queryset.order_by()[:1]), None)


def _locked_study(
    uid: str, source: str, calling_ae_title: str, now: datetime, attributes: dict
) -> tuple[Study, bool]:
    """The study row, locked: instances of one study are counted one after the other.
    Created from the first instance's attributes when new (a racing first instance of
    the same study waits for this one's row instead of failing)."""
    study = _unique(Study.objects.select_for_update().filter(study_instance_uid=uid))
    if study is not None:
        return study, False
    fresh = Study(
        study_instance_uid=uid,
        source=source,
        sending_ae_title=calling_ae_title[:16],
        first_received_at=now,
        last_received_at=now,
        revision=0,
        **{name: value for name, value in attributes.items() if name in _STUDY_COLUMNS},
    )
    Study.objects.bulk_create([fresh], ignore_conflicts=True)
    study = Study.objects.select_for_update().get(study_instance_uid=uid)
    return study, study.revision == 0 and study.number_of_study_related_instances == 0


_STUDY_COLUMNS = (*PATIENT_FIELDS, *STUDY_FIELDS)


def _series(
    study: Study, uid: str, attributes: dict, calling_ae_title: str, now: datetime
) -> tuple[Series, bool]:
    series = _unique(Series.objects.filter(study=study, series_instance_uid=uid))
    if series is not None:
        return series, False
    return Series.objects.create(
        study=study,
        series_instance_uid=uid,
        sending_ae_title=calling_ae_title[:16],
        first_received_at=now,
        last_received_at=now,
        **{name: value for name, value in attributes.items() if name in SERIES_FIELDS},
    ), True


def _series_id(
    study: Study, uid: str, attributes: dict, calling_ae_title: str, now: datetime
) -> tuple[int, bool]:
    """The series' key (created when new) for a stored instance: no more is needed of
    it, its counts are updated in place (_insert_counted)."""
    found = _unique(
        Series.objects.filter(study=study, series_instance_uid=uid).values_list("pk", flat=True)
    )
    if found is not None:
        return found, False
    series, _ = _series(study, uid, attributes, calling_ae_title, now)
    return series.pk, True


def _differences(study: Study, attributes: dict) -> dict:
    """The identifying attributes of an instance that differ from its study's (values
    missing on either side are no difference)."""
    found = {}
    for name in IDENTIFYING:
        sent, held = attributes.get(name), getattr(study, name)
        if sent in ("", None) or held in ("", None):
            continue
        same = names.same(held, sent) if name == "patient_name" else held == sent
        if not same:
            found[name] = sent
    return found


def _fill_missing(study: Study, attributes: dict) -> None:
    """A study first known from an announcement (IAN) has no patient or study
    attributes: the first stored instance brings them."""
    changed = []
    for name in _STUDY_COLUMNS:
        value = attributes.get(name)
        if value not in ("", None) and getattr(study, name) in ("", None):
            setattr(study, name, value)
            changed.append(name)
    if changed:
        study.save(update_fields=changed)


def _insert_counted(
    instance: Instance, study: Study, series_id: int, now: datetime, *, new_series: bool
) -> None:
    """A new instance's row and the counts it changes: the instance inserted, its
    series' count added to in the database (whatever the row held when read), the
    study's counts, arrival and next decision (_changed). On PostgreSQL the three
    writes are one statement (one round trip, no ORM compiling: about a millisecond of
    the listener's CPU an image)."""
    was_due = study.reconcile_after is not None
    study.number_of_study_related_instances += 1
    _changed(study, now, new_series=new_series)
    if connection.vendor == "postgresql":
        _insert_counted_postgresql(instance, study, series_id, now)
    else:
        instance.save(force_insert=True)
        Series.objects.filter(pk=series_id).update(
            number_of_series_related_instances=F("number_of_series_related_instances") + 1,
            last_received_at=now,
        )
        study.save(update_fields=CHANGED_STUDY_FIELDS)
    if not was_due:
        _reconcile_later(study.pk, quiet_period().total_seconds())


def _insert_counted_postgresql(
    instance: Instance, study: Study, series_id: int, now: datetime
) -> None:
    """The ORM path's three writes of _insert_counted in one statement, with the values
    Django would write (each field's own preparation): no rule of its own. A colliding
    insert fails the whole statement, as the ORM's insert would (IntegrityError)."""
    inserted, changed = _inserted_fields(), _changed_fields()
    values = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in inserted]
    study_values = [f.get_db_prep_save(f.pre_save(study, False), connection) for f in changed]
    with connection.cursor() as cursor:
        cursor.execute(_insert_counted_sql(), [now, series_id, *study_values, study.pk, *values])
        instance.pk = cursor.fetchone()[0]
    instance._state.adding, instance._state.db = False, connection.alias


def _inserted_fields() -> list:
    return [f for f in Instance._meta.local_concrete_fields if not f.primary_key]


def _changed_fields() -> list:
    return [Study._meta.get_field(name) for name in CHANGED_STUDY_FIELDS]


@cache
def _insert_counted_sql() -> str:
    quote = connection.ops.quote_name

    def column(model, name: str) -> str:
        return quote(model._meta.get_field(name).column)

    count = column(Series, "number_of_series_related_instances")
    inserted = _inserted_fields()
    return (
        f"WITH counted AS (UPDATE {quote(Series._meta.db_table)}"  # noqa: S608 - names from the models, values as placeholders
        f" SET {count} = {count} + 1, {column(Series, 'last_received_at')} = %s"
        f" WHERE {quote(Series._meta.pk.column)} = %s),"
        f" changed AS (UPDATE {quote(Study._meta.db_table)}"
        f" SET {', '.join(f'{quote(f.column)} = %s' for f in _changed_fields())}"
        f" WHERE {quote(Study._meta.pk.column)} = %s)"
        f" INSERT INTO {quote(Instance._meta.db_table)}"
        f" ({', '.join(quote(f.column) for f in inserted)})"
        f" VALUES ({', '.join(['%s'] * len(inserted))})"
        f" RETURNING {quote(Instance._meta.pk.column)}"
    )


# What a change in what arrived changes of a study (_changed).
CHANGED_STUDY_FIELDS = [
    "number_of_study_related_series",
    "number_of_study_related_instances",
    "reported_instances",
    "modalities_in_study",
    "last_received_at",
    "revision",
    "reconcile_after",
    "updated_at",
]


def _after_change(study: Study, now: datetime, *, new_series: bool = True) -> None:
    was_due = study.reconcile_after is not None
    _changed(study, now, new_series=new_series)
    study.save(update_fields=CHANGED_STUDY_FIELDS)
    if not was_due:
        _reconcile_later(study.pk, quiet_period().total_seconds())


def _changed(study: Study, now: datetime, *, new_series: bool) -> None:
    """Counts of series and modalities (when a series is new), the last arrival, a
    new revision, and the next decision due at the end of the quiet period (a later
    arrival postpones it). Not saved here."""
    if new_series:
        study.number_of_study_related_series = study.series.count()
        study.modalities_in_study = "\\".join(
            sorted({m for m in study.series.values_list("modality", flat=True) if m})
        )[:64]
    study.last_received_at = now
    study.revision += 1
    study.reconcile_after = now + quiet_period()


def _reconcile_later(study_id: int, delay: float) -> None:
    """After the commit: the reconciliation task, due at the end of the quiet period.
    If the broker is down the sweeper finds the study anyway."""
    from worklist import tasks

    transaction.on_commit(lambda: tasks.reconcile_later(study_id, delay))


def _second_copy(
    first: Instance, header: InstanceHeader, calling_ae_title: str, now: datetime
) -> int:
    """A second copy of an instance: nothing changes, but where its identifying
    attributes differ from the first copy's the difference is kept."""
    study = first.series.study
    held = {name: getattr(study, name) for name in IDENTIFYING} | _unplain(first.differs)
    held |= {
        "study_instance_uid": study.study_instance_uid,
        "series_instance_uid": first.series.series_instance_uid,
        "sop_class_uid": first.sop_class_uid,
    }
    sent = (
        header.patient
        | header.study
        | {
            "study_instance_uid": header.study_instance_uid,
            "series_instance_uid": header.series_instance_uid,
            "sop_class_uid": header.sop_class_uid,
        }
    )
    differs = {}
    for name, value in held.items():
        other = sent.get(name)
        if other in ("", None) or value in ("", None):
            continue
        same = names.same(value, other) if name == "patient_name" else value == other
        if not same:
            differs[name] = other
    recorded = _record_discrepancies(
        study,
        header.sop_instance_uid,
        differs,
        StudyDiscrepancy.Kind.DUPLICATE,
        calling_ae_title,
        now,
        held=held,
    )
    if recorded:
        Study.objects.filter(pk=study.pk).update(exception_open=True)
    return recorded


def _record_discrepancies(
    study, sop_instance_uid, differs: dict, kind, calling_ae_title, now, held: dict | None = None
) -> int:
    if not differs:
        return 0
    held = held if held is not None else {name: getattr(study, name) for name in differs}
    known = set(
        StudyDiscrepancy.objects.filter(
            study=study, sop_instance_uid=sop_instance_uid, acknowledged=False
        ).values_list("attribute", "received")
    )
    rows = [
        StudyDiscrepancy(
            study=study,
            sop_instance_uid=sop_instance_uid,
            kind=kind,
            attribute=KEYWORDS.get(name, name),
            recorded=_text(held.get(name))[:255],
            received=_text(value)[:255],
            sending_ae_title=calling_ae_title[:16],
            received_at=now,
        )
        for name, value in differs.items()
        if (KEYWORDS.get(name, name), _text(value)[:255]) not in known
    ]
    StudyDiscrepancy.objects.bulk_create(rows)
    return len(rows)


def _text(value) -> str:
    if value is None:
        return ""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _plain(values: dict) -> dict:
    return {name: _text(value) for name, value in values.items()}


def _unplain(values: dict) -> dict:
    """Dates back from the JSON of Instance.differs."""
    parsed = {}
    for name, value in values.items():
        if name in ("patient_birth_date", "study_date") and value:
            parsed[name] = date.fromisoformat(value)
        elif name == "study_time" and value:
            parsed[name] = time.fromisoformat(value)
        else:
            parsed[name] = value
    return parsed


def file_path(header: InstanceHeader) -> Path:
    """Where an instance's file is kept, relative to RIS_DATA_DIR."""
    for uid in (header.study_instance_uid, header.series_instance_uid, header.sop_instance_uid):
        # UIDs are digits and dots (validated by the handler); never a path of their own.
        if not uid or not all(ch.isdigit() or ch == "." for ch in uid) or uid.startswith("."):
            raise StoreRefused(0xA900, "A UID that is not a UID cannot name a file")
    return (
        Path("studies")
        / header.study_instance_uid
        / header.series_instance_uid
        / f"{header.sop_instance_uid}.dcm"
    )


def keep_file(header: InstanceHeader, data: bytes, written: list[Path]) -> tuple[str, int]:
    """Write the instance as a DICOM file under RIS_DATA_DIR/studies: a temporary name,
    fsync, rename, fsync of the directory. Raises StoreRefused (out of resources) when
    the disk is full or not writable."""
    relative = file_path(header)
    final = Path(settings.DATA_DIR) / relative
    directory = final.parent
    temporary = directory / f".{header.sop_instance_uid}.{os.getpid()}.tmp"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
        written.append(final)
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        logger.error("Cannot keep the file of %s: %s", header.sop_instance_uid, exc.strerror)
        raise StoreRefused(
            0xA700, f"Out of resources: cannot keep the file ({exc.strerror})"
        ) from exc
    return str(relative), len(data)


def _audit_transfer(study: Study, calling_ae_title: str) -> None:
    audit.record(
        Action.INSTANCES_TRANSFERRED,
        verb=Verb.CREATE,
        patients=_study_patients(study),
        objects=study_objects(study),
        detail=f"Instances received from {calling_ae_title} for study {study.study_instance_uid}",
    )


def _study_patients(study: Study) -> list:
    return [(study.patient_id, study.issuer_of_patient_id)] if study.patient_id else []


# --- announcements: IAN and the PACS poll ---------------------------------------------


@dataclass(frozen=True)
class AnnouncedInstance:
    sop_class_uid: str
    sop_instance_uid: str
    instance_availability: str = ""
    retrieve_ae_title: str = ""


@dataclass(frozen=True)
class AnnouncedSeries:
    series_instance_uid: str
    instances: tuple[AnnouncedInstance, ...] = ()
    attributes: dict = field(default_factory=dict)
    reported_instances: int | None = None


@transaction.atomic
def instances_announced(
    *,
    study_instance_uid: str,
    series: Iterable[AnnouncedSeries],
    calling_ae_title: str,
    source: str = ArrivalSource.IAN,
    attributes: dict | None = None,
    reported_instances: int | None = None,
) -> Study:
    """An archive says it holds these instances (IAN, PS3.4 Annex R) or this study
    (the PACS poll, with counts instead of instances): the study is treated as arrived
    at the level it lists. Instances already known are left as they are; a change in
    what is known starts the quiet period again."""
    now = timezone.now()
    attributes = attributes or {}
    study, created = _locked_study(study_instance_uid, source, calling_ae_title, now, attributes)
    if not created:
        _fill_missing(study, attributes)
    for item in series:
        found, _ = _series(study, item.series_instance_uid, item.attributes, calling_ae_title, now)
        _announced_series(study, found, item, calling_ae_title, source, now)
    if reported_instances is not None:
        study.reported_instances = reported_instances
    total = sum(s.instance_count for s in study.series.all())
    if created or total != study.number_of_study_related_instances:
        # Something new arrived: counted, and the quiet period starts again.
        study.number_of_study_related_instances = total
        _after_change(study, now)
        _audit_transfer(study, calling_ae_title)
    elif reported_instances is not None:
        study.save(update_fields=["reported_instances"])
    return study


def _announced_series(
    study, series: Series, item: AnnouncedSeries, calling_ae_title, source, now
) -> bool:
    changed = False
    if item.instances:
        known = set(
            Instance.objects.filter(
                sop_instance_uid__in=[i.sop_instance_uid for i in item.instances]
            ).values_list("sop_instance_uid", flat=True)
        )
        fresh = [
            Instance(
                series=series,
                sop_instance_uid=i.sop_instance_uid,
                sop_class_uid=i.sop_class_uid,
                source=source,
                sending_ae_title=calling_ae_title[:16],
                received_at=now,
                instance_availability=i.instance_availability[:16],
                retrieve_ae_title=i.retrieve_ae_title[:64],
            )
            for i in {i.sop_instance_uid: i for i in item.instances}.values()
            if i.sop_instance_uid not in known
        ]
        Instance.objects.bulk_create(fresh, ignore_conflicts=True)
        if fresh:
            series.number_of_series_related_instances = series.instances.count()
            changed = True
    if item.reported_instances is not None and item.reported_instances != series.reported_instances:
        series.reported_instances = item.reported_instances
        changed = True
    if changed:
        series.last_received_at = now
        series.save(
            update_fields=[
                "number_of_series_related_instances",
                "reported_instances",
                "last_received_at",
            ]
        )
    return changed


# --- reconciliation ----------------------------------------------------------------------


@dataclass(frozen=True)
class Reconciled:
    """What one reconciliation attempt did: `decision` when it decided, else
    `due_in` seconds when the study is still in its quiet period (None: nothing to
    do, already decided or gone)."""

    decision: StudyDecision | None = None
    due_in: float | None = None


def studies_due(*, now: datetime | None = None, limit: int = 1000) -> list[int]:
    """Studies past their quiet period without a decision for their current revision:
    what the sweeper hands to the reconciliation task."""
    now = now or timezone.now()
    return list(
        Study.objects.filter(reconcile_after__lte=now)
        .order_by("reconcile_after")
        .values_list("pk", flat=True)[:limit]
    )


@transaction.atomic
def study_reconcile(*, study_id: int, now: datetime | None = None) -> Reconciled:
    """Decide a study whose quiet period is over: find its order, compare, record the
    outcome with its evidence, a line in the order's history and an audit event.

    Idempotent: under the study's row lock, a study already decided at its revision
    is left alone, so a task run twice (acks_late, the sweeper, two workers) records
    one outcome."""
    now = now or timezone.now()
    study = Study.objects.select_for_update().filter(pk=study_id).first()
    if study is None or study.reconcile_after is None:
        return Reconciled()
    if study.reconcile_after > now:
        return Reconciled(due_in=(study.reconcile_after - now).total_seconds())
    return Reconciled(decision=_decide(study, now=now))


def _decide(study: Study, *, now: datetime, user=None) -> StudyDecision:
    order, matched_by, tried = _find_order(study)
    evidence: dict = {"matched_by": matched_by, "tried": tried}
    if order is None:
        outcome = StudyOutcome.UNSCHEDULED
    else:
        differences = demographic_differences(study, order)
        series, expected, missing = _series_evidence(study, order)
        evidence |= {
            "order": {
                "id": order.pk,
                "accession_number": order.accession_number,
                "status": order.status,
            },
            "differences": differences,
            "series": series,
            "expected_instances": expected,
            "received_instances": study.number_of_study_related_instances,
            "missing": missing,
        }
        if differences:
            outcome = StudyOutcome.MISMATCH
        elif missing:
            outcome = StudyOutcome.INCOMPLETE
        else:
            outcome = StudyOutcome.MATCHED
    open_discrepancies = study.discrepancies.filter(acknowledged=False).count()
    evidence["discrepancies"] = open_discrepancies
    decision = StudyDecision.objects.create(
        study=study,
        revision=study.revision,
        outcome=outcome,
        order=order,
        evidence=evidence,
        decided_at=now,
        decided_by=user if getattr(user, "pk", None) else None,
    )
    study.decision = decision
    study.outcome = outcome
    study.order = order
    study.reconcile_after = None
    study.exception_open = outcome in EXCEPTION_OUTCOMES or open_discrepancies > 0
    study.save(
        update_fields=[
            "decision",
            "outcome",
            "order",
            "reconcile_after",
            "exception_open",
            "updated_at",
        ]
    )
    if order is not None:
        history.record(order, OrderEvent.Kind.STUDY, user=user, detail=_history_text(decision))
    audit.record(
        Action.PROCEDURE_RECORD,
        verb=Verb.UPDATE,
        patients=[p for p in (_order_patient(order), *_study_patients(study)) if p],
        objects=study_objects(study),
        detail=f"Study reconciled: {outcome} ({matched_by or 'no order'})",
    )
    return decision


def _order_patient(order: Order | None):
    return order.patient if order is not None else None


def _history_text(decision: StudyDecision) -> str:
    study, evidence = decision.study, decision.evidence
    text = (
        f"Study {study.study_instance_uid}: {decision.outcome}, "
        f"{study.number_of_study_related_series} series, "
        f"{study.number_of_study_related_instances} instances"
    )
    if evidence.get("differences"):
        text += "; differs: " + ", ".join(d["attribute"] for d in evidence["differences"])
    if evidence.get("missing"):
        text += f"; {sum(m['missing'] for m in evidence['missing'])} instances missing"
    return text[:1000]


MATCHABLE_STEP_STATUSES = (StepStatus.SCHEDULED, StepStatus.IN_PROGRESS, StepStatus.COMPLETED)


def _find_order(study: Study) -> tuple[Order | None, str, list[str]]:
    """The order a study belongs to, how it was found, and what was tried.

    By Study Instance UID, else by accession number, else by patient ID + issuer +
    study date + modality when exactly one scheduled or performed step fits. A study
    linked by a person keeps its order."""
    orders = Order.objects.select_related("patient")
    if study.linked_by_hand and study.order_id:
        return orders.get(pk=study.order_id), "linked", []
    tried = []
    procedure = (
        RequestedProcedure.objects.filter(study_instance_uid=study.study_instance_uid)
        .select_related("order__patient")
        .first()
    )
    if procedure is not None:
        return procedure.order, "study_instance_uid", tried
    tried.append("no order has its Study Instance UID")
    if study.accession_number:
        order = orders.filter(accession_number=study.accession_number).first()
        if order is not None:
            return order, "accession_number", tried
        tried.append(f"no order has accession number {study.accession_number}")
    else:
        tried.append("no accession number")
    if not (study.patient_id and study.study_date and study.modalities):
        tried.append("patient ID, study date or modality missing")
        return None, "", tried
    steps = _steps_fitting(study)
    if len(steps) == 1:
        return orders.get(pk=steps[0].requested_procedure.order_id), "patient_date_modality", tried
    if steps:
        tried.append(
            "several steps fit the patient, date and modality: "
            + ", ".join(step.scheduled_procedure_step_id for step in steps[:10])
        )
    else:
        tried.append("no scheduled or performed step fits the patient, date and modality")
    return None, "", tried


def _steps_fitting(study: Study) -> list[ScheduledProcedureStep]:
    tz = timezone.get_default_timezone()
    start = datetime.combine(study.study_date, time(0), tzinfo=tz)
    patient = Q(requested_procedure__order__patient__patient_id=study.patient_id)
    if study.issuer_of_patient_id:
        patient &= Q(
            requested_procedure__order__patient__issuer_of_patient_id__in=(
                study.issuer_of_patient_id,
                "",
            )
        )
    return list(
        ScheduledProcedureStep.objects.filter(
            patient,
            start__gte=start,
            start__lt=start + timedelta(days=1),
            modality__in=study.modalities,
            scheduled_procedure_step_status__in=MATCHABLE_STEP_STATUSES,
        )
        .exclude(requested_procedure__order__status=OrderStatus.CANCELLED)
        .select_related("requested_procedure")
        .order_by("start", "pk")[:11]
    )


def demographic_differences(study: Study, order: Order) -> list[dict]:
    """Patient ID, issuer, name, birth date and sex where the study says otherwise than
    the order's patient (a value either side lacks is no difference)."""
    patient = order.patient
    found = []
    for name in PATIENT_FIELDS:
        sent, held = getattr(study, name), getattr(patient, name)
        if sent in ("", None) or held in ("", None):
            continue  # a value one side lacks is no difference (the order's gets filled in)
        same = names.same(held, sent) if name == "patient_name" else held == sent
        if not same:
            found.append({"attribute": KEYWORDS[name], "study": _text(sent), "order": _text(held)})
    return found


def _series_evidence(study: Study, order: Order) -> tuple[list[dict], int | None, list[dict]]:
    """Each series with the instances here beside what MPPS reported for it, the total
    MPPS reported (None without a completed MPPS) and the series short of it."""
    reported = _mpps_counts(order)
    rows, missing = [], []
    here = {}
    for series in study.series.all():
        count = series.instance_count
        here[series.series_instance_uid] = count
        rows.append(
            {
                "series_instance_uid": series.series_instance_uid,
                "series_number": series.series_number,
                "modality": series.modality,
                "series_description": series.series_description,
                "instances": count,
                "reported_by_mpps": reported.get(series.series_instance_uid),
                "first_received_at": _text(series.first_received_at),
                "last_received_at": _text(series.last_received_at),
            }
        )
    for uid, expected in reported.items():
        received = here.get(uid, 0)
        if received < expected:
            missing.append(
                {
                    "series_instance_uid": uid,
                    "expected": expected,
                    "received": received,
                    "missing": expected - received,
                }
            )
    return rows, (sum(reported.values()) if reported else None), missing


def _mpps_counts(order: Order) -> dict[str, int]:
    """Instances per series that the order's completed MPPS listed (images and
    non-image objects)."""
    counts: dict[str, int] = {}
    performed = PerformedProcedureStep.objects.filter(
        scheduled_procedure_steps__requested_procedure__order=order,
        performed_procedure_step_status=PerformedStepStatus.COMPLETED,
    ).distinct()
    for step in performed:
        for item in step.performed_series_sequence:
            uid = item.get("series_instance_uid")
            if uid:
                counts[uid] = (
                    counts.get(uid, 0)
                    + int(item.get("number_of_images") or 0)
                    + int(item.get("number_of_non_image_objects") or 0)
                )
    return counts


# --- people working the exceptions ------------------------------------------------------


def _lock_open_exception(study: Study, revision: int | None) -> Study:
    """The study locked for a person's action, or Conflict when someone else acted
    first: it changed since it was shown (`revision`, default: as the caller loaded
    it), or its exception is no longer open."""
    locked = (
        Study.objects.select_for_update(of=("self",)).select_related("decision").get(pk=study.pk)
    )
    expected = study.revision if revision is None else revision
    if locked.revision != expected:
        raise Conflict(
            "The study changed since it was shown (more instances, or someone acted on "
            "it): look again.",
            study={"id": locked.pk, "revision": locked.revision, "outcome": locked.outcome},
        )
    if not locked.exception_open:
        raise Conflict(
            "This exception is no longer open: someone else worked it.",
            study={"id": locked.pk, "revision": locked.revision, "outcome": locked.outcome},
        )
    return locked


def _resolve_current(study: Study, resolution: str, user, comment: str, now) -> None:
    decision = study.decision
    if decision is not None:
        decision.resolution = resolution
        decision.resolution_comment = comment
        decision.resolved_at = now
        decision.resolved_by = user if getattr(user, "pk", None) else None
        decision.save(
            update_fields=["resolution", "resolution_comment", "resolved_at", "resolved_by"]
        )


@audited(
    Action.PROCEDURE_RECORD,
    verb=Verb.UPDATE,
    patient=study_patient,
    objects=study_objects,
    patient_of_call=lambda kwargs: study_patient(kwargs["study"]),
)
@transaction.atomic
def study_link(
    *, study: Study, order: Order, user=None, revision: int | None = None, comment: str = ""
) -> Study:
    """Link a study to the order a person chose; it is decided again against that order
    at once (MATCHED, or MISMATCH / INCOMPLETE with the evidence)."""
    now = timezone.now()
    locked = _lock_open_exception(study, revision)
    order = Order.objects.select_related("patient").get(pk=order.pk)
    _resolve_current(
        locked,
        StudyDecision.Resolution.LINKED,
        user,
        comment or f"Linked to order {order.accession_number}",
        now,
    )
    history.record(
        order,
        OrderEvent.Kind.STUDY_RESOLVED,
        user=user,
        detail=f"Study {locked.study_instance_uid} linked to this order",
    )
    return _relinked(locked, order, user, now)


def _relinked(study: Study, order: Order, user, now) -> Study:
    study.order = order
    study.linked_by_hand = True
    study.revision += 1
    study.save(update_fields=["order", "linked_by_hand", "revision", "updated_at"])
    _decide(study, now=now, user=user)
    return Study.objects.select_related("order__patient", "decision").get(pk=study.pk)


@audited(
    Action.ORDER_RECORD,
    verb=Verb.CREATE,
    patient=lambda order: order.patient,
    objects=lambda order: [(ObjectKind.ACCESSION_NUMBER, order.accession_number)],
    patient_of_call=lambda kwargs: study_patient(kwargs["study"]),
)
@transaction.atomic
def study_create_order(
    *,
    study: Study,
    station: Station | None = None,
    user=None,
    revision: int | None = None,
    requested_procedure_description: str = "",
) -> Order:
    """An order for a walk-in exam, made from the study: the patient found by patient ID
    and issuer (or registered from the study), an order whose requested procedure
    carries the study's UID and accession number, and one step, already COMPLETED, on
    `station` (default: the station whose AE title sent the study). The study is then
    linked to it and decided again."""
    now = timezone.now()
    locked = _lock_open_exception(study, revision)
    station = (
        station
        or Station.objects.filter(scheduled_station_ae_title=locked.sending_ae_title).first()
    )
    if station is None:
        raise Invalid({"station": ["Choose the station the exam was performed on."]})
    if not locked.patient_id:
        raise Invalid({"patient_id": ["The study carries no patient ID."]})
    patient = patient_for_order(
        patient_id=locked.patient_id,
        issuer_of_patient_id=locked.issuer_of_patient_id,
        patient_name=locked.patient_name,
        patient_birth_date=locked.patient_birth_date,
        patient_sex=locked.patient_sex if locked.patient_sex in ("M", "F", "O") else "",
    )
    accession = locked.accession_number
    if not accession or Order.objects.filter(accession_number=accession).exists():
        accession = identifiers.new_accession_number()
    order = Order.objects.create(
        patient=patient,
        accession_number=accession,
        referring_physician_name=locked.referring_physician_name,
        status=OrderStatus.COMPLETED,
    )
    requested = RequestedProcedure.objects.create(
        order=order,
        requested_procedure_id=identifiers.new_requested_procedure_id(),
        requested_procedure_description=(
            requested_procedure_description or locked.study_description
        )[:64],
        study_instance_uid=locked.study_instance_uid,
    )
    start = _performed_start(locked)
    step = ScheduledProcedureStep.objects.create(
        requested_procedure=requested,
        station=station,
        scheduled_procedure_step_id=identifiers.new_scheduled_procedure_step_id(),
        modality=(locked.modalities or [station.modality])[0],
        scheduled_station_name=station.scheduled_station_name,
        scheduled_procedure_step_location=station.scheduled_procedure_step_location,
        start=start,
        scheduled_procedure_step_description=locked.study_description[:64],
        scheduled_procedure_step_status=StepStatus.COMPLETED,
    )
    history.record(
        order,
        OrderEvent.Kind.BOOKED,
        user=user,
        detail=f"Created for a walk-in from study {locked.study_instance_uid}: "
        f"{step.scheduled_procedure_step_id} on {history.slot_text(step)}",
    )
    _resolve_current(
        locked,
        StudyDecision.Resolution.ORDER_CREATED,
        user,
        f"Order {order.accession_number} created for a walk-in",
        now,
    )
    _relinked(locked, order, user, now)
    return order


def _performed_start(study: Study) -> datetime:
    if study.study_date:
        tz = timezone.get_default_timezone()
        return datetime.combine(study.study_date, study.study_time or time(0), tzinfo=tz)
    return study.first_received_at


@audited(
    Action.PROCEDURE_RECORD,
    verb=Verb.UPDATE,
    patient=study_patient,
    objects=study_objects,
    patient_of_call=lambda kwargs: study_patient(kwargs["study"]),
)
@transaction.atomic
def study_accept_order_demographics(
    *, study: Study, user=None, revision: int | None = None, comment: str = ""
) -> Study:
    """A MISMATCH where the order's patient is right and the study's header is wrong
    (to be corrected in the archive): the exception is closed with that verdict."""
    now = timezone.now()
    locked = _lock_open_exception(study, revision)
    if locked.outcome != StudyOutcome.MISMATCH or locked.order_id is None:
        raise Invalid({"outcome": ["Only a mismatch with an order has demographics to accept."]})
    _close(
        locked,
        StudyDecision.Resolution.DEMOGRAPHICS_ACCEPTED,
        user,
        comment or "The order's demographics are correct",
        now,
    )
    return locked


@audited(
    Action.PROCEDURE_RECORD,
    verb=Verb.UPDATE,
    patient=study_patient,
    objects=study_objects,
    patient_of_call=lambda kwargs: study_patient(kwargs["study"]),
)
@transaction.atomic
def study_resolve(*, study: Study, comment: str, user=None, revision: int | None = None) -> Study:
    """Close an exception with a comment saying why (e.g. a test study, images
    discarded on purpose); its discrepancies count as seen."""
    if not (comment or "").strip():
        raise Invalid({"comment": ["Say why the exception is resolved."]})
    now = timezone.now()
    locked = _lock_open_exception(study, revision)
    _close(locked, StudyDecision.Resolution.RESOLVED, user, comment.strip(), now)
    return locked


def _close(study: Study, resolution: str, user, comment: str, now) -> None:
    _resolve_current(study, resolution, user, comment, now)
    study.discrepancies.filter(acknowledged=False).update(acknowledged=True)
    study.exception_open = False
    study.save(update_fields=["exception_open", "updated_at"])
    if study.order_id:
        history.record(
            Order.objects.get(pk=study.order_id),
            OrderEvent.Kind.STUDY_RESOLVED,
            user=user,
            detail=f"Study {study.study_instance_uid}: {study.outcome} "
            f"{StudyDecision.Resolution(resolution).label.lower()}: {comment}"[:1000],
        )
