"""Recording audit events: the functions every channel calls.

    from audit import services as audit
    audit.record(Action.PATIENT_RECORD, verb=Verb.UPDATE, patients=[patient])

Reads of patient data go through record_read: a web request's reads are written when
its response is ready (merged per action, one event listing every patient that
appeared), anything else's at once. Writes go through record, inside the writer's
transaction. Selectors and services of other apps use the @audited decorator
(audit.audited), which calls these.
"""

import logging
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field

from django.db import DEFAULT_DB_ALIAS, transaction

from . import chain, checkpoints, conf, context, triggers
from .codes import Action, Outcome, Verb
from .models import Event

logger = logging.getLogger(__name__)


def patient_key(patient) -> tuple[str, str]:
    """(patient ID, issuer) of a Patient, of anything with those attributes, or of a
    (patient_id, issuer) pair or a dict with those keys."""
    if isinstance(patient, tuple):
        return (str(patient[0]), str(patient[1] if len(patient) > 1 else ""))
    if isinstance(patient, dict):
        return (str(patient["patient_id"]), str(patient.get("issuer_of_patient_id") or ""))
    return (str(patient.patient_id), str(patient.issuer_of_patient_id or ""))


def _unique(items: Iterable) -> list:
    return list(dict.fromkeys(items))


def _patient_keys(patients: Iterable) -> list[tuple[str, str]]:
    return _unique(patient_key(p) for p in patients if p is not None)


def _object_refs(objects: Iterable) -> list[list[str]]:
    return [list(ref) for ref in _unique((str(k), str(v)) for k, v in objects if v)]


def record(
    action: Action,
    *,
    verb: Verb = Verb.READ,
    outcome: Outcome = Outcome.SUCCESS,
    patients: Iterable = (),
    objects: Iterable[tuple[str, str]] = (),
    detail: str | None = None,
    event_type: str = "",
    user: str | None = None,
    synchronous: bool = True,
    using: str = DEFAULT_DB_ALIAS,
) -> Event:
    """Write one event now. Inside a transaction it is part of it: if the event cannot
    be written the whole transaction fails (no access without a trace).

    `user` names the actor where the context cannot (a failed login's username);
    `using` the database connection (the expiry writes through the expiry role's).
    """
    ctx = context.current()
    fields = ctx.participant()
    if user is not None and not fields["username"]:
        fields["username"] = user[:150]
    fields.update(
        action=action,
        event_action_code=verb,
        event_outcome_indicator=int(outcome),
        event_type_code=event_type,
        detail=(ctx.detail if detail is None else detail)[:255],
        participant_objects=_object_refs(objects),
    )
    return chain.append(fields, _patient_keys(patients), synchronous=synchronous, using=using)


@dataclass
class PendingRead:
    action: str
    verb: str
    patients: list = field(default_factory=list)
    objects: list = field(default_factory=list)


def record_read(
    action: Action,
    *,
    patients: Iterable = (),
    objects: Iterable[tuple[str, str]] = (),
    verb: Verb = Verb.READ,
) -> None:
    """A read of patient data. Buffered in a web request (written before the response
    leaves, by audit.middleware), written at once elsewhere."""
    ctx = context.current()
    if not ctx.buffer_reads:
        record(
            action, verb=verb, patients=patients, objects=objects, synchronous=_reads_synchronous()
        )
        return
    ctx.pending_reads.append(
        PendingRead(action, verb, _patient_keys(patients), _object_refs(objects))
    )


def flush_reads(ctx: context.AuditContext) -> list[Event]:
    """Write the reads buffered in a context: one event per action, listing every
    patient and object read under it, in one transaction."""
    merged: dict[tuple[str, str], PendingRead] = {}
    for read in ctx.pending_reads:
        target = merged.setdefault((read.action, read.verb), PendingRead(read.action, read.verb))
        target.patients.extend(read.patients)
        target.objects.extend(read.objects)
    ctx.pending_reads.clear()
    reads = [read for read in merged.values() if read.patients or read.objects]
    if not reads:
        return []
    synchronous = _reads_synchronous()
    # One event (the usual request) needs no transaction around it: on PostgreSQL it
    # is one statement, its own transaction.
    with context.bind(ctx), transaction.atomic() if len(reads) > 1 else nullcontext():
        return [
            record(
                read.action,
                verb=read.verb,
                patients=read.patients,
                objects=read.objects,
                synchronous=synchronous,
            )
            for read in reads
        ]


def _reads_synchronous() -> bool:
    """Whether a read's event waits for its WAL flush (AUDIT_SYNCHRONOUS_READS). Only
    a transaction of its own may skip it: inside the caller's transaction, the
    caller's durability applies."""
    return conf.get("AUDIT_SYNCHRONOUS_READS") or transaction.get_connection().in_atomic_block


# --- integrity -------------------------------------------------------------------


@dataclass
class IntegrityReport:
    """The chain walk plus the check that the append-only triggers are in place."""

    chain: chain.Verification
    triggers_installed: int
    triggers_expected: int
    checkpoints: checkpoints.Loaded

    @property
    def ok(self) -> bool:
        return (
            self.chain.intact
            and self.triggers_installed == self.triggers_expected
            and not self.checkpoints.problem
        )

    def summary(self) -> str:
        text = f"hash chain {self.chain.summary()}; {self.checkpoints.summary()}"
        if self.triggers_installed != self.triggers_expected:
            text += (
                f"; append-only triggers MISSING: {self.triggers_installed} of "
                f"{self.triggers_expected} in place"
            )
        return text


def verify_and_record() -> IntegrityReport:
    """Walk the chain (audit verify, and the daily task) against the signed checkpoints
    of the checkpoint file, and record the result as an event of its own: Audit Log
    Used, Execute, serious failure when broken."""
    loaded = checkpoints.load()
    report = IntegrityReport(
        chain=chain.verify(checkpoints=loaded.by_seq),
        checkpoints=loaded,
        triggers_installed=triggers.installed_count(),
        triggers_expected=triggers.expected_count(),
    )
    if not report.ok:
        logger.error("Audit trail integrity check failed: %s", report.summary())
    record(
        Action.AUDIT_LOG_USED,
        verb=Verb.EXECUTE,
        outcome=Outcome.SUCCESS if report.ok else Outcome.SERIOUS_FAILURE,
        detail=f"audit verify: {report.summary()}",
    )
    return report
