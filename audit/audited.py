"""@audited: how a selector or service function of another app records what it
touches, so that patient data is only reached through functions that audit.

    @audited(Action.PATIENT_RECORD, patient=lambda p: p)
    def patient_list() -> QuerySet[Patient]: ...

    @audited(Action.ORDER_RECORD, verb=Verb.CREATE, patient=lambda o: o.patient,
             objects=refs.order_objects, patient_of_call=lambda kw: kw["patient"])
    def order_create(*, patient, ...) -> Order: ...

A read (verb R) that returns a QuerySet is audited when the QuerySet is evaluated,
whatever filtering and slicing a view, a paginator or the admin added first: the
event lists exactly the patients of the rows fetched (the page shown). `count()`,
`exists()` and aggregates fetch no rows and record nothing; nor do `values()` and
`values_list()` projections, which code must not use to carry patient data out.
A read returning objects records them at once.

A write (any other verb) runs the function in a transaction and records the event
in it, so a failed audit write undoes the change. A refused write (an exception) is
recorded as a failure, with the patient named by `patient_of_call(kwargs)` if given.
"""

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.db.models.query import ModelIterable

from ris.errors import Conflict, Invalid

from . import context, services
from .codes import Action, Outcome, Verb

logger = logging.getLogger(__name__)

EXPECTED_REFUSALS = (Invalid, Conflict, ValidationError, ObjectDoesNotExist)


@dataclass(frozen=True)
class AuditSpec:
    action: str
    verb: str = Verb.READ
    patient: Callable | None = None
    patients: Callable | None = None
    objects: Callable | None = None

    def refs(self, items: list) -> tuple[list, list]:
        patients, objects = [], []
        for item in items:
            if self.patient is not None:
                patients.append(self.patient(item))
            if self.objects is not None:
                objects.extend(self.objects(item))
        if self.patients is not None:
            patients.extend(p for item in items for p in self.patients(item))
        return patients, objects

    def record_read(self, items: list) -> None:
        patients, objects = self.refs(items)
        if patients or objects:
            services.record_read(self.action, verb=self.verb, patients=patients, objects=objects)


class AuditedQuerySetMixin:
    """Records the rows a QuerySet fetches; survives filter(), order_by(), slicing."""

    _audit_spec: AuditSpec | None = None

    def _clone(self):
        clone = super()._clone()
        clone._audit_spec = self._audit_spec
        return clone

    def _audits_rows(self) -> bool:
        return self._audit_spec is not None and issubclass(self._iterable_class, ModelIterable)

    def _fetch_all(self):
        fresh = self._result_cache is None
        super()._fetch_all()
        if fresh and self._audits_rows():
            self._audit_spec.record_read(self._result_cache)

    def _iterator(self, use_chunked_fetch, chunk_size):
        rows = super()._iterator(use_chunked_fetch, chunk_size)
        if not self._audits_rows():
            yield from rows
            return
        batch = []
        for row in rows:
            batch.append(row)
            if len(batch) >= (chunk_size or 2000):
                self._audit_spec.record_read(batch)
                yield from batch
                batch = []
        self._audit_spec.record_read(batch)
        yield from batch


_audited_classes: dict[type, type] = {}


def audited_queryset(queryset: QuerySet, spec: AuditSpec) -> QuerySet:
    cls = type(queryset)
    if not issubclass(cls, AuditedQuerySetMixin):
        if cls not in _audited_classes:
            _audited_classes[cls] = type(f"Audited{cls.__name__}", (AuditedQuerySetMixin, cls), {})
        cls = _audited_classes[cls]
    clone = queryset._chain()
    clone.__class__ = cls
    clone._audit_spec = spec
    return clone


def _outcome_of(exc: Exception) -> Outcome:
    if isinstance(exc, EXPECTED_REFUSALS):
        return Outcome.MINOR_FAILURE
    return Outcome.SERIOUS_FAILURE


def _record_refusal(spec: AuditSpec, name: str, exc: Exception, patient_of_call, kwargs) -> None:
    """A refused or failed write, after its transaction rolled back. Never masks the
    original error: if even this cannot be written it is logged (without patient data)."""
    try:
        patients = [patient_of_call(kwargs)] if patient_of_call else []
    except (KeyError, AttributeError, TypeError, IndexError):
        patients = []
    connection = transaction.get_connection()
    if connection.in_atomic_block and connection.needs_rollback:
        return  # the caller's transaction is lost anyway; this record would be too
    try:
        services.record(
            spec.action,
            verb=spec.verb,
            outcome=_outcome_of(exc),
            patients=patients,
            detail=f"{context.current().detail} [{name}: {type(exc).__name__}]",
        )
    except Exception:
        logger.exception("Could not record the refused %s", name)


def audited(
    action: Action,
    *,
    verb: Verb = Verb.READ,
    patient: Callable | None = None,
    patients: Callable | None = None,
    objects: Callable | None = None,
    patient_of_call: Callable | None = None,
):
    """Audit a selector (verb R) or a service (C, U, D, E); see the module docstring.

    patient: one returned object (or row) -> its patient. patients: one returned
    object -> several patients. objects: one returned object -> [(kind, value)].
    """
    spec = AuditSpec(action=action, verb=verb, patient=patient, patients=patients, objects=objects)

    def decorate(func):
        if verb == Verb.READ:

            @functools.wraps(func)
            def read(*args, **kwargs):
                return _read(func, spec, *args, **kwargs)

            return read

        @functools.wraps(func)
        def write(*args, **kwargs):
            return _write(func, spec, patient_of_call, *args, **kwargs)

        return write

    return decorate


def _read(func, spec: AuditSpec, *args, **kwargs):
    result = func(*args, **kwargs)
    if isinstance(result, QuerySet):
        return audited_queryset(result, spec)
    if result is not None:
        spec.record_read(list(result) if type(result) in (list, tuple) else [result])
    return result


def _write(func, spec: AuditSpec, patient_of_call, *args, **kwargs):
    try:
        with transaction.atomic():
            result = func(*args, **kwargs)
            patients, objects = spec.refs([result] if result is not None else [])
            services.record(
                spec.action,
                verb=spec.verb,
                patients=patients,
                objects=objects,
                detail=f"{context.current().detail} [{func.__name__}]",
            )
    except Exception as exc:
        _record_refusal(spec, func.__name__, exc, patient_of_call, kwargs)
        raise
    return result
