"""The keyed hash chain: the one place where audit events are written and checked.

An event's hash links it to the one before, keyed with the audit key (RIS_AUDIT_KEY),
which lives outside the database:

    hash = HMAC-SHA256(key, key_id | prev_hash | seq | event_date_time | role | content)

where the content digest is the SHA-256 of every other field and the patients, as
canonical JSON (computed before the write), and key_id names the key (each event
records it, so keys can rotate: retired keys still verify what they chained). Without
the key nobody can compute a valid hash, so whoever rewrites an event in the database
and recomputes the hashes that follow still breaks the chain. Events chained by an
earlier version carry no key ID and a plain SHA-256 of the same text; they verify only
up to AUDIT_UNKEYED_THROUGH.

Appending takes the chain lock (a PostgreSQL transaction-level advisory lock; on
SQLite the IMMEDIATE transaction already holds the database's single write lock),
reads the head, and inserts the event numbered head + 1 with the head's hash as its
`prev_hash`. The lock is held until the writer's transaction ends, so the next writer
sees this event as the head: no two events share a predecessor (no fork) and none is
lost. The primary key on `seq` would refuse a fork even without the lock.

On PostgreSQL the key never goes to the database, so the hash is computed here, and
the append is two calls (migration 0004): audit_chain_head() reads the head, the time
and the user's role without a lock; audit_append() takes the lock and writes the
event and its patient rows only if the head is still the one it was hashed after
(otherwise it answers the new head, and the hash is made again). The lock is never
held while the database waits for the client.

Inside `appends_at_end()` (the HL7 listener's transaction per message), events are
chained and written when the block ends, still in the caller's transaction, so the
lock is held only from the last statements to COMMIT and concurrent writers overlap
the rest of their work.
"""

import functools
import hashlib
import json
import re
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from . import conf, context
from .codes import Action, Verb
from .models import ChainAnchor, Event, EventPatient

GENESIS = "0" * 64
LOCK_KEY = 0x52495341  # "RISA": any constant shared by every writer

CONTENT_FIELDS = (
    "action",
    "event_action_code",
    "event_outcome_indicator",
    "event_type_code",
    "username",
    "user_pk",
    "ae_title",
    "source_ip",
    "source_port",
    "channel",
    "correlation_id",
    "detail",
    "participant_objects",
)


def content_digest(fields, patients: list[tuple[str, str]]) -> str:
    """SHA-256 of what the writer knows before it holds the lock: every field but
    seq, time, role, prev_hash and hash, and the patients sorted, as compact JSON
    with sorted keys (the same bytes before the insert and after a read)."""
    get = fields.get if isinstance(fields, dict) else functools.partial(getattr, fields)
    content = {name: get(name) for name in CONTENT_FIELDS}
    content["patients"] = sorted([list(p) for p in patients])
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def link_hash(
    key: conf.ChainKey | None, prev_hash: str, seq: int, moment: datetime, role: str, content: str
) -> str:
    """The keyed link; key None: the unkeyed SHA-256 of earlier versions."""
    text = f"{prev_hash}|{seq}|{_utc_text(moment)}|{role}|{content}"
    if key is None:
        return hashlib.sha256(text.encode()).hexdigest()
    return key.mac(f"{key.id}|{text}")


class UnknownKey(Exception):
    """An event names a key ID that no configured key has."""


def digest(event: Event, patients: list[tuple[str, str]], keys: dict | None = None) -> str:
    """The hash an event must carry, recomputed from its stored fields with the key
    it names."""
    if event.key_id:
        keys = conf.chain_keys() if keys is None else keys
        if event.key_id not in keys:
            raise UnknownKey(event.key_id)
        key = keys[event.key_id]
    else:
        key = None
    return link_hash(
        key,
        event.prev_hash,
        event.seq,
        event.event_date_time,
        event.role,
        content_digest(event, patients),
    )


def _chained(
    fields: dict, patients, *, seq: int, moment: datetime, prev_hash: str, content: str = ""
) -> Event:
    """The event numbered `seq` after the head, hashed with the current key."""
    key = conf.current_key()
    event = Event(**fields, seq=seq, event_date_time=moment, prev_hash=prev_hash, key_id=key.id)
    event.hash = link_hash(
        key, prev_hash, seq, moment, event.role, content or content_digest(fields, patients)
    )
    return event


# --- PostgreSQL ----------------------------------------------------------------------


@functools.cache
def _role_sql(user_id: str) -> str:
    """The roles of a user as context.role_of gives them ("superuser", then the
    groups in code point order), as a scalar subquery on `user_id`."""
    user_model = get_user_model()
    through = user_model.groups.through._meta
    user_column = through.get_field(user_model._meta.model_name).column
    group_column = through.get_field("group").column
    return (
        "(SELECT concat_ws(', ', CASE WHEN u.is_superuser THEN 'superuser' END, "  # noqa: S608
        "(SELECT string_agg(g.name, ', ' ORDER BY g.name COLLATE \"C\") "
        f"FROM {Group._meta.db_table} AS g JOIN {through.db_table} AS ug "
        f"ON g.id = ug.{group_column} WHERE ug.{user_column} = u.id)) "
        f"FROM {user_model._meta.db_table} AS u WHERE u.id = {user_id})"
    )


_HEAD_SQL = f"""
    SELECT e.seq, e.hash INTO v_seq, v_prev FROM audit_event AS e ORDER BY e.seq DESC LIMIT 1;
    IF v_seq IS NULL THEN
        SELECT a.expired_through_seq, a.expired_through_hash INTO v_seq, v_prev
        FROM audit_chainanchor AS a ORDER BY a.expired_through_seq DESC LIMIT 1;
        v_seq := coalesce(v_seq, 0);
        v_prev := coalesce(v_prev, '{GENESIS}');
    END IF;
"""  # noqa: S608 - a constant


def chain_head_function_sql() -> str:
    """audit_chain_head(user_pk, role): the next seq and the head's hash as committed
    now, the time, and the user's role; no lock (audit_append checks the head)."""
    return f"""
CREATE OR REPLACE FUNCTION audit_chain_head(p_user_pk integer, p_role text)
RETURNS TABLE (o_seq bigint, o_prev text, o_time timestamptz, o_role text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_seq bigint;
    v_prev text;
    v_role text := p_role;
BEGIN
{_HEAD_SQL}
    IF v_role IS NULL AND p_user_pk IS NOT NULL THEN
        v_role := {_role_sql("p_user_pk")};
    END IF;
    RETURN QUERY SELECT v_seq + 1, v_prev, clock_timestamp(), left(coalesce(v_role, ''), 200);
END
$$
"""  # noqa: S608 - constants and model table names only


def append_function_sql() -> str:
    """audit_append(...): takes the chain lock, and writes the event and its patient
    rows if the head is still the one the event was hashed after; if another writer
    got there first, writes nothing and answers the new head and time (the lock stays
    with the caller's transaction, if it has one). Each statement of a volatile
    PL/pgSQL function takes a new snapshot, so the head is read after the lock."""
    return f"""
CREATE OR REPLACE FUNCTION audit_append(
    p_seq bigint, p_prev text, p_time timestamptz, p_role text, p_hash text, p_key_id text,
    p_action text, p_verb text, p_outcome integer, p_type text, p_username text,
    p_user_pk integer, p_ae_title text, p_source_ip inet, p_source_port integer,
    p_channel text, p_correlation_id text, p_detail text, p_objects jsonb,
    p_patient_ids text[], p_issuers text[], p_synchronous boolean
) RETURNS TABLE (o_appended boolean, o_seq bigint, o_prev text, o_time timestamptz)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_seq bigint;
    v_prev text;
BEGIN
    PERFORM pg_advisory_xact_lock({LOCK_KEY});
{_HEAD_SQL}
    IF v_seq + 1 <> p_seq OR v_prev <> p_prev THEN
        RETURN QUERY SELECT false, v_seq + 1, v_prev, clock_timestamp();
        RETURN;
    END IF;
    IF NOT p_synchronous THEN
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    INSERT INTO audit_event (seq, event_date_time, action, event_action_code,
        event_outcome_indicator, event_type_code, username, user_pk, role, ae_title,
        source_ip, source_port, channel, correlation_id, detail, participant_objects,
        prev_hash, hash, key_id)
    VALUES (p_seq, p_time, p_action, p_verb, p_outcome, p_type, p_username, p_user_pk,
        p_role, p_ae_title, p_source_ip, p_source_port, p_channel, p_correlation_id,
        p_detail, p_objects, p_prev, p_hash, p_key_id);
    INSERT INTO audit_eventpatient (event_id, patient_id, issuer_of_patient_id, event_date_time)
    SELECT p_seq, p.patient_id, p.issuer, p_time
    FROM unnest(p_patient_ids, p_issuers) AS p(patient_id, issuer);
    RETURN QUERY SELECT true, p_seq, p_prev, p_time;
END
$$
"""  # noqa: S608 - constants and model table names only


APPEND_SQL = (
    "SELECT * FROM audit_append("  # noqa: S608 - placeholders only
    + ", ".join(["%s"] * 18)
    + ", %s::jsonb, %s::text[], %s::text[], %s)"
)


def _append_postgresql(fields: dict, patients, *, synchronous: bool, using: str) -> Event:
    """Hash after the head as read, then append if it is still the head: the key
    never reaches the database, and the chain lock is held only inside audit_append
    (or until the caller's transaction ends), never while the database waits for us.
    A writer that lost the race hashes again after the head it was given."""
    content = content_digest(fields, patients)
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT * FROM audit_chain_head(%s, %s)", [fields["user_pk"], fields["role"]]
        )
        seq, prev_hash, moment, role = cursor.fetchone()
        fields = {**fields, "role": role}
        while True:
            event = _chained(
                fields, patients, seq=seq, moment=moment, prev_hash=prev_hash, content=content
            )
            cursor.execute(APPEND_SQL, _append_parameters(event, fields, patients, synchronous))
            appended, seq, prev_hash, moment = cursor.fetchone()
            if appended:
                return event


def _append_parameters(event: Event, fields: dict, patients, synchronous: bool) -> list:
    return [
        event.seq,
        event.prev_hash,
        event.event_date_time,
        event.role,
        event.hash,
        event.key_id,
        fields["action"],
        fields["event_action_code"],
        fields["event_outcome_indicator"],
        fields["event_type_code"],
        fields["username"],
        fields["user_pk"],
        fields["ae_title"],
        fields["source_ip"],
        fields["source_port"],
        fields["channel"],
        fields["correlation_id"],
        fields["detail"],
        json.dumps(fields["participant_objects"]),
        [p for p, _ in patients],
        [i for _, i in patients],
        synchronous,
    ]


# --- SQLite (and any other backend): the same steps from Python ---------------------


def _start_of_chain(using: str) -> tuple[int, str]:
    """An empty event table: the very start, or after an expiry that left nothing
    (never in practice: the expiry is itself recorded first)."""
    anchor = ChainAnchor.objects.using(using).order_by("-expired_through_seq").first()
    if anchor is None:
        return 0, GENESIS
    return anchor.expired_through_seq, anchor.expired_through_hash


def _append_python(fields: dict, patients, *, using: str) -> Event:
    connection = connections[using]
    with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
        cursor.execute("SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1")
        seq, prev_hash = cursor.fetchone() or _start_of_chain(using)
        if fields.get("role") is None:
            pk = fields["user_pk"]
            fields = {**fields, "role": context.role_of_pk(pk)[:200] if pk else ""}
        event = _chained(fields, patients, seq=seq + 1, moment=timezone.now(), prev_hash=prev_hash)
        event.save(force_insert=True, using=using)
        moment = connection.ops.adapt_datetimefield_value(event.event_date_time)
        cursor.executemany(  # no model instances: a calendar page names 500 patients
            "INSERT INTO audit_eventpatient "
            "(event_id, patient_id, issuer_of_patient_id, event_date_time) VALUES (%s, %s, %s, %s)",
            [(event.seq, patient_id, issuer, moment) for patient_id, issuer in patients],
        )
    return event


# Events recorded inside appends_at_end(), written when it ends: (event, arguments).
_at_end: ContextVar[list | None] = ContextVar("audit_appends_at_end", default=None)


@contextmanager
def appends_at_end():
    """Events recorded inside the block (in a transaction) are chained and written as
    the block ends, in the order recorded, in the same transaction: so the chain lock,
    held from the append to COMMIT, is taken just before the COMMIT. Enter it inside
    the transaction and as its last step (nothing but COMMIT after it). The Event that
    record() returned inside the block is filled in then. If the block raises, the
    events are dropped with the transaction that the error undoes."""
    queue: list = []
    token = _at_end.set(queue)
    try:
        yield
    finally:
        _at_end.reset(token)
    for event, fields, patients, synchronous, using in queue:
        written = _append_now(fields, patients, synchronous=synchronous, using=using)
        event.__dict__.update(written.__dict__)


def append(
    fields: dict,
    patients: list[tuple[str, str]],
    *,
    synchronous: bool = True,
    using: str = DEFAULT_DB_ALIAS,
) -> Event:
    """Write one event and its patient rows, in the caller's transaction if there is
    one (so a failed write fails the caller), or in a transaction of its own.

    A role of None is looked up for `user_pk` while the event is written.
    synchronous=False lets PostgreSQL confirm the commit before its WAL reaches the
    disk (synchronous_commit=off for this transaction only): still atomic, ordered and
    chained, and any later synchronous commit makes it durable too; only a server
    crash within a fraction of a second can lose it. For reads only, by setting.
    `using` is the database connection (the expiry writes its record through its own).
    Inside appends_at_end() and a transaction, written when that block ends.
    """
    queue = _at_end.get()
    if queue is not None and connections[using].in_atomic_block:
        event = Event(**fields)
        queue.append((event, fields, patients, synchronous, using))
        return event
    return _append_now(fields, patients, synchronous=synchronous, using=using)


def _append_now(fields: dict, patients, *, synchronous: bool, using: str) -> Event:
    if connections[using].vendor == "postgresql":
        return _append_postgresql(fields, patients, synchronous=synchronous, using=using)
    return _append_python(fields, patients, using=using)


# --- verification ----------------------------------------------------------------


@dataclass
class Verification:
    """What `audit verify` found: how much of the chain it walked, and the first
    broken link if any."""

    events: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    head_hash: str = ""
    broken_seq: int | None = None
    problem: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_seq is None and not self.problem

    def summary(self) -> str:
        if not self.intact:
            where = f"event #{self.broken_seq}" if self.broken_seq is not None else "the chain"
            return f"BROKEN at {where}: {self.problem}"
        if not self.events:
            return "intact: no events yet"
        return (
            f"intact: {self.events} events #{self.first_seq}..#{self.last_seq}, "
            f"head {self.head_hash[:16]}"
        )


EXPIRY_RECORD = re.compile(r"events #(\d+)\.\.#(\d+) .*chain anchored at ([0-9a-f]{64})")


def _anchor_problem(anchors: list[ChainAnchor], first_seq: int) -> str:
    """The anchors must meet end to end from #1 to the event before the first kept
    one, and the newest one's expiry event must still be kept (it is newer than
    anything that expired with or before it)."""
    expected_first = 1
    for anchor in anchors:
        start = anchor.expired_through_seq - anchor.events_removed + 1
        if start != expected_first or anchor.events_removed < 1:
            return (
                f"the expiry anchors do not meet end to end: one claims #{start}.."
                f"#{anchor.expired_through_seq}, the one before ends at #{expected_first - 1}"
            )
        expected_first = anchor.expired_through_seq + 1
    if expected_first != first_seq:
        if not anchors:
            return f"events before #{first_seq} are gone and no expiry anchor records why"
        return (
            f"events #{expected_first}..#{first_seq - 1} are gone and no expiry anchor records why"
        )
    if anchors and anchors[-1].recorded_by_seq < first_seq:
        return (
            f"the expiry anchor of #..#{anchors[-1].expired_through_seq} names event "
            f"#{anchors[-1].recorded_by_seq} as its record, which is not in the chain"
        )
    return ""


def records_expiry(event: Event, anchor: ChainAnchor) -> bool:
    """Whether `event` is the Audit Log Used / Delete event that `audit expire` wrote
    for exactly this anchor: same events, same hash."""
    found = EXPIRY_RECORD.search(event.detail)
    return (
        event.action == Action.AUDIT_LOG_USED
        and event.event_action_code == Verb.DELETE
        and event.seq > anchor.expired_through_seq
        and found is not None
        and int(found[1]) == anchor.expired_through_seq - anchor.events_removed + 1
        and int(found[2]) == anchor.expired_through_seq
        and found[3] == anchor.expired_through_hash
    )


def _patients_by_event(low: int, high: int) -> tuple[dict, dict]:
    patients: dict[int, list] = {}
    times: dict[int, set] = {}
    rows = EventPatient.objects.filter(event_id__gte=low, event_id__lte=high).values_list(
        "event_id", "patient_id", "issuer_of_patient_id", "event_date_time"
    )
    for event_id, patient_id, issuer, moment in rows.iterator(chunk_size=10000):
        patients.setdefault(event_id, []).append((patient_id, issuer))
        times.setdefault(event_id, set()).add(moment)
    return patients, times


def _check(event: Event, expected_seq: int, expected_prev: str, patients, times, keys: dict) -> str:
    if event.seq != expected_seq:
        return f"events #{expected_seq}..#{event.seq - 1} are missing"
    if event.prev_hash != expected_prev:
        return "its prev_hash is not the hash of the event before it"
    if digest(event, patients, keys) != event.hash:
        return "its content (or its patients) no longer matches its hash"
    if times and times != {event.event_date_time}:
        return "its patient rows carry a different time"
    return ""


def _key_problem(event: Event, keys: dict, unkeyed_through: int) -> str:
    """Which key an event may be chained with: none only up to AUDIT_UNKEYED_THROUGH
    (a trail begun by an earlier version), a configured one after it."""
    if not event.key_id and event.seq > unkeyed_through:
        last = Event.objects.filter(key_id="").order_by("-seq").values_list("seq", flat=True)[0]
        return (
            "it is chained without a key; if the trail up to #"
            f"{last} was written before keyed chaining, set RIS_AUDIT_UNKEYED_THROUGH={last}"
        )
    if event.key_id and event.seq <= unkeyed_through:
        return (
            f"it is chained with a key although RIS_AUDIT_UNKEYED_THROUGH is {unkeyed_through}:"
            f" set it to {event.seq - 1}"
        )
    if event.key_id and event.key_id not in keys:
        return (
            f"it is chained with key {event.key_id}, which is not configured "
            "(RIS_AUDIT_KEY, RIS_AUDIT_KEYS_RETIRED)"
        )
    return ""


class _Walk:
    """One pass over the chain in seq order, stopping at the first broken link."""

    def __init__(self, batch: int, checkpoints: dict):
        self.batch = batch
        self.result = Verification()
        # Expiry events still kept, by seq: each must be met, and must match.
        self.records: dict[int, ChainAnchor] = {}
        self.keys = conf.chain_keys()
        self.unkeyed_through = conf.get("AUDIT_UNKEYED_THROUGH")
        # Signed heads from outside the database (audit.checkpoints), by seq.
        self.checkpoints = checkpoints

    def run(self) -> Verification:
        first = Event.objects.order_by("seq").values_list("seq", flat=True).first()
        if first is None:
            return self._cut_check()
        anchors = list(ChainAnchor.objects.order_by("expired_through_seq"))
        problem = _anchor_problem(anchors, first)
        if problem:
            return self._broken(first, problem)
        self.records = {a.recorded_by_seq: a for a in anchors if a.recorded_by_seq >= first}
        prev = anchors[-1].expired_through_hash if anchors else GENESIS
        self.result.first_seq = first
        return self._walk_from(first, prev)

    def run_since(self, checkpoint) -> Verification:
        """Only the events after a checkpoint (before publishing the next one)."""
        stored = Event.objects.filter(seq=checkpoint.seq).values_list("hash", flat=True).first()
        if stored is None:
            self.checkpoints = {checkpoint.seq: checkpoint}
            return self.run()
        if stored != checkpoint.head:
            return self._broken(checkpoint.seq, _rewritten(checkpoint))
        self.result.first_seq = checkpoint.seq + 1
        return self._walk_from(checkpoint.seq + 1, checkpoint.head)

    def _walk_from(self, seq: int, prev: str) -> Verification:
        if not self._events(seq, prev):
            return self.result
        if self.records:
            seq, anchor = min(self.records.items())
            return self._broken(
                seq,
                f"the expiry anchor of #..#{anchor.expired_through_seq} names event #{seq} "
                "as its record, which is not in the chain",
            )
        return self._cut_check()

    def _cut_check(self) -> Verification:
        """The chain must reach the newest checkpoint."""
        end = self.result.last_seq or 0
        beyond = [seq for seq in self.checkpoints if seq > end]
        if beyond:
            newest = self.checkpoints[max(beyond)]
            return self._broken(
                end + 1,
                f"events #{end + 1}..#{newest.seq}, covered by the checkpoint of "
                f"{newest.time}, are gone: the newest events were cut off",
            )
        return self.result

    def _events(self, expected_seq: int, expected_prev: str) -> bool:
        while True:
            events = list(Event.objects.filter(seq__gte=expected_seq).order_by("seq")[: self.batch])
            if not events:
                return True
            patients, times = _patients_by_event(events[0].seq, events[-1].seq)
            for event in events:
                problem = (
                    _key_problem(event, self.keys, self.unkeyed_through)
                    or _check(
                        event,
                        expected_seq,
                        expected_prev,
                        patients.get(event.seq, []),
                        times.get(event.seq),
                        self.keys,
                    )
                    or self._record_problem(event)
                    or self._checkpoint_problem(event)
                )
                if problem:
                    self._broken(event.seq, problem)
                    return False
                self.result.events += 1
                self.result.last_seq, self.result.head_hash = event.seq, event.hash
                expected_seq, expected_prev = event.seq + 1, event.hash

    def _checkpoint_problem(self, event: Event) -> str:
        checkpoint = self.checkpoints.get(event.seq)
        if checkpoint is None or checkpoint.head == event.hash:
            return ""
        return _rewritten(checkpoint)

    def _record_problem(self, event: Event) -> str:
        anchor = self.records.pop(event.seq, None)
        if anchor is None or records_expiry(event, anchor):
            return ""
        return (
            f"the expiry anchor of #..#{anchor.expired_through_seq} names this event as its "
            "record, but it does not record this expiry"
        )

    def _broken(self, seq: int, problem: str) -> Verification:
        self.result.broken_seq, self.result.problem = seq, problem
        return self.result


def _rewritten(checkpoint) -> str:
    return (
        f"its hash is not the one the checkpoint of {checkpoint.time} names: the chain up "
        "to here was rewritten after that checkpoint"
    )


def verify(batch: int = 5000, *, checkpoints: dict | None = None, since=None) -> Verification:
    """Walk the whole chain in seq order and stop at the first broken link. Where old
    events expired, the chain starts from the newest anchor, and every anchor whose
    expiry event is kept is checked against it. `checkpoints` (seq: Checkpoint, from
    audit.checkpoints) are heads signed earlier: a checkpointed event must carry that
    hash and the chain must reach the newest one. `since` (a checkpoint): walk only
    the events after it."""
    walk = _Walk(batch, checkpoints or {})
    return walk.run() if since is None else walk.run_since(since)
