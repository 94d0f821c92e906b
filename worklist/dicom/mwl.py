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

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections
from django.utils import timezone
from pydicom.dataset import Dataset
from pynetdicom import evt

from audit import context as audit_context
from audit import services as audit_services
from audit.codes import Action, ObjectKind, Outcome, Verb
from worklist import selectors

from . import policy, query, worklist_item

logger = logging.getLogger(__name__)


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
        identifier = event.identifier
        worklist_query = query.translate(
            identifier,
            tz=timezone.get_default_timezone(),
            accent_insensitive=settings.RIS_MWL_ACCENT_INSENSITIVE,
        )
    except query.InvalidQuery as exc:
        _audit_failure(assoc, f"refused ({exc.comment})")
        yield failure(exc.status, exc.comment, exc.offending), None
        return
    except Exception as exc:  # noqa: BLE001 - a peer never sees a traceback
        logger.exception("Cannot read a worklist query from %s", assoc.requestor.ae_title)
        yield failure(query.UNABLE_TO_PROCESS, f"Cannot read the identifier: {exc}"), None
        return

    keys = worklist_query.summary()
    cap = settings.RIS_MWL_MAX_MATCHES
    try:
        matched = _matches(worklist_query, granted, cap)
    except DatabaseError:
        logger.exception("Worklist query failed: %s", keys)
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
        "Worklist query from %s (%s): %s: %d matches",
        granted.calling_ae,
        granted.grounds,
        keys,
        len(matched),
    )
    status = worklist_query.pending_status
    for step in matched:
        if event.is_cancelled:
            yield query.CANCEL, None
            return
        try:
            response = worklist_item.build(
                step,
                identifier,
                tz=worklist_query.tz,
                character_set=granted.character_set,
                item_filters=worklist_query.item_filters,
            )
        except Exception:  # noqa: BLE001 - a peer never sees a traceback
            logger.exception("Cannot answer step %s", step.scheduled_procedure_step_id)
            yield failure(query.UNABLE_TO_PROCESS, "Cannot build a worklist item"), None
            return
        yield status, response


def _matches(worklist_query: query.WorklistQuery, granted: policy.Access, cap: int):
    """Up to `cap` matching steps, or None when there are more: one more row than the
    cap is fetched, never the whole result."""
    filtered_in_python = bool(worklist_query.step_filters)
    rows = selectors.modality_worklist(
        match=worklist_query.where,
        stations=granted.station_list,
        limit=None if filtered_in_python else cap + 1,
    )
    matched = []
    for step in rows:
        if worklist_query.matches(step):
            matched.append(step)
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
            patients=[s.requested_procedure.order.patient for s in steps],
            objects=[
                (ObjectKind.ACCESSION_NUMBER, s.requested_procedure.order.accession_number)
                for s in steps
            ],
        )


def _audit_failure(assoc, keys: str) -> None:
    """A refused query names no patient; failing to record it must not hide the
    reason from the modality."""
    try:
        _audit(assoc, keys, outcome=Outcome.MINOR_FAILURE)
    except Exception:  # noqa: BLE001
        logger.exception("Cannot audit a refused worklist query: %s", keys)
