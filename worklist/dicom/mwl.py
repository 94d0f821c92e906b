"""Modality Worklist C-FIND SCP (Modality Worklist Information Model - FIND,
1.2.840.10008.5.1.4.31): parse the identifier, call the selector, answer.

pynetdicom runs each association in its own thread, outside Django's request cycle:
the handlers close stale database connections when they start and when they end.

Statuses (PS3.4 K.4.1.1.4): FF00 per match, FF01 when a key carries a value we do
not match on (it is then only returned), FE00 when the modality cancels, A700 with
nothing sent when more than RIS_MWL_MAX_MATCHES steps match, A900 for an identifier
that does not fit the information model, C000 for one we cannot read; failures carry
the reason in Error Comment (0000,0902).
"""

import logging
import threading
from contextlib import contextmanager

from django.conf import settings
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connections,
)
from django.utils import timezone
from pydicom.dataset import Dataset
from pynetdicom import _config as _pynetdicom_config
from pynetdicom import evt

from audit import context as audit_context
from audit import services as audit_services
from audit.codes import Action, ObjectKind, Outcome, Verb
from worklist import selectors

from . import answers, policy, query, redact, worklist_item

logger = logging.getLogger(__name__)

# pynetdicom would decode each C-FIND request identifier a second time and format every
# response only to log them (at INFO and DEBUG): patient data that belongs in the
# audit, not in the log, and CPU spent on every answer whatever the log level.
_pynetdicom_config.LOG_REQUEST_IDENTIFIERS = False
_pynetdicom_config.LOG_RESPONSE_IDENTIFIERS = False


class _ReadingIdentifier(logging.Filter):
    """While a thread reads a C-FIND identifier, pydicom's warnings about values
    outside their VR (its own logger, and Python warnings that Django logs) are left
    out: the query checks those values itself and refuses with the reason, logged on
    one line."""

    active = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(self.active, "on", False)


_quiet = _ReadingIdentifier()
for _name in ("pydicom", "py.warnings"):
    logging.getLogger(_name).addFilter(_quiet)


@contextmanager
def _reading_identifier():
    _quiet.active.on = True
    try:
        yield
    finally:
        _quiet.active.on = False


def handle_find(event: evt.Event):
    """EVT_C_FIND: the matching steps, one pending response each. The association's
    thread ends with the association, so its database connection is closed here
    rather than left for the garbage collector."""
    close_old_connections()
    try:
        yield from _find(event)
    finally:
        connections.close_all()


def failure(status: int, comment: str, offending=()) -> Dataset:
    answer = Dataset()
    answer.Status = status
    answer.ErrorComment = comment[:64]
    if offending:
        answer.OffendingElement = list(offending)
    return answer


def _find(event: evt.Event):
    assoc = event.assoc
    granted = policy.granted(assoc)
    try:
        if granted is None:
            granted = policy.resolve(assoc.requestor.ae_title, assoc.requestor.address)
        if granted is None:
            yield failure(query.UNABLE_TO_PROCESS, "Calling AE title not allowed"), None
            return
        with _reading_identifier():
            identifier = event.identifier
            worklist_query = query.translate(
                identifier,
                tz=timezone.get_default_timezone(),
                accent_insensitive=settings.RIS_MWL_ACCENT_INSENSITIVE,
            )
    except query.InvalidQuery as exc:
        _refused(assoc, exc)
        yield failure(exc.status, exc.comment, exc.offending), None
        return
    except Exception as exc:  # noqa: BLE001 - a peer never sees a traceback
        # Whatever pydicom could not decode: the peer's data, not our failure.
        logger.debug("Unreadable worklist query", exc_info=True)
        _refused(
            assoc,
            query.InvalidQuery(
                query.UNABLE_TO_PROCESS, f"Cannot read the identifier ({type(exc).__name__})"
            ),
        )
        yield failure(query.UNABLE_TO_PROCESS, "Cannot read the identifier"), None
        return

    keys = worklist_query.summary()
    calling = granted.calling_ae
    cap = settings.RIS_MWL_MAX_MATCHES
    try:
        matched = _matches(worklist_query, granted, cap)
    except (OperationalError, InterfaceError) as exc:
        logger.error("Worklist query from %s failed: database unavailable: %s", calling, exc)
        yield failure(query.UNABLE_TO_PROCESS, "The worklist database is unavailable"), None
        return
    except DatabaseError:
        logger.exception("Worklist query from %s failed", calling)
        yield failure(query.UNABLE_TO_PROCESS, "The worklist database is unavailable"), None
        return
    if matched is None:
        _audit_failure(assoc, f"{keys} (more than {cap} matches)")
        yield failure(query.OUT_OF_RESOURCES, f"More than {cap} matches: narrow the query"), None
        return
    try:
        # The trace is written before the first patient leaves.
        _audit(assoc, keys, steps=matched)
    except Exception:  # noqa: BLE001
        logger.exception("Cannot audit a worklist query; answering nothing")
        yield failure(query.UNABLE_TO_PROCESS, "Cannot record the query in the audit"), None
        return
    logger.info(
        "Worklist query from %s (%s) on %s: %d matches",
        calling,
        granted.grounds,
        worklist_query.keywords(),
        len(matched),
    )
    status = worklist_query.pending_status
    request = answers.Request(
        identifier,
        tz=worklist_query.tz,
        character_set=granted.character_set,
        item_filters=worklist_query.item_filters,
    )
    syntax = _syntax(event)
    for row in matched:
        if event.is_cancelled:
            yield query.CANCEL, None
            return
        try:
            response = answers.ANSWERS.identifier(row, request, syntax)
        except Exception:  # noqa: BLE001 - a peer never sees a traceback
            logger.exception("Cannot answer step %s", row[worklist_item.STEP_ID])
            yield failure(query.UNABLE_TO_PROCESS, "Cannot build a worklist item"), None
            return
        yield status, response


def _syntax(event: evt.Event) -> answers.Syntax:
    """How the answers are encoded: the transfer syntax of the presentation context."""
    uid = event.context.transfer_syntax
    return (uid.is_implicit_VR, uid.is_little_endian, uid.is_deflated)


def _matches(worklist_query: query.WorklistQuery, granted: policy.Access, cap: int):
    """Up to `cap` matching steps, or None when there are more: one more row than the
    cap is fetched, never the whole result."""
    filtered_in_python = bool(worklist_query.step_filters)
    rows = selectors.modality_worklist(
        match=worklist_query.where,
        stations=granted.station_list,
        columns=worklist_item.query_columns(),
        limit=None if filtered_in_python else cap + 1,
    )
    matched = []
    for values in rows:
        row = worklist_item.Row(values)
        if worklist_query.matches(row):
            matched.append(row)
            if len(matched) > cap:
                return None
    return matched


def _audit(assoc, keys: str, *, steps=(), outcome: Outcome = Outcome.SUCCESS) -> None:
    """One Query event (DICOM PS3.15 A.5.3.12): the calling AE and address (from the
    context), the query keys, and every patient the answer names."""
    with audit_context.dicom(assoc, role="modality", detail=f"MWL C-FIND {keys}"):
        audit_services.record(
            Action.QUERY,
            verb=Verb.EXECUTE,
            outcome=outcome,
            patients=[
                (row[worklist_item.PATIENT_ID], row[worklist_item.ISSUER_OF_PATIENT_ID])
                for row in steps
            ],
            objects=[
                (ObjectKind.ACCESSION_NUMBER, row[worklist_item.ACCESSION_NUMBER]) for row in steps
            ],
        )


def _refused(assoc, exc: query.InvalidQuery) -> None:
    """A query we do not answer: one log line, without a traceback (the peer's data is
    at fault, not the listener), and the audit's failure event."""
    logger.warning(
        "Refused a worklist query from %s at %s: %04X %s",
        assoc.requestor.ae_title,
        assoc.requestor.address,
        exc.status,
        redact.without_values(exc.comment),
    )
    _audit_failure(assoc, f"refused ({exc.comment})")


def _audit_failure(assoc, keys: str) -> None:
    """A refused query names no patient; failing to record it must not hide the
    reason from the modality."""
    try:
        _audit(assoc, keys, outcome=Outcome.MINOR_FAILURE)
    except Exception:  # noqa: BLE001
        logger.exception("Cannot audit a refused worklist query: %s", keys)
