"""Celery tasks of arriving studies. Thin: the work is in worklist.services.studies
(reconciliation) and worklist.dicom.pacs (the poll).

- `worklist.reconcile_study` decides one study once its quiet period is over;
  acks_late and idempotent (a second run finds the study decided and does nothing),
  retried with backoff while the database is unavailable.
- `worklist.sweep_studies` (every RIS_RECONCILE_SWEEP_SECONDS, 60 s) enqueues every
  study past its quiet period without a decision: what intake could not enqueue
  (broker down) or a worker lost is decided anyway.
- `worklist.poll_pacs` (every RIS_PACS_POLL_SECONDS when RIS_PACS_HOST is set) asks
  the PACS for the studies of the last RIS_PACS_POLL_HOURS.

With no broker, `runris` runs all of them in-process (ris/inprocess.py).
"""

import logging

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError

from ris import inprocess
from worklist.services import studies

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    name="worklist.reconcile_study",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=12,
)
def reconcile_study(self, study_id: int) -> str:
    result = studies.study_reconcile(study_id=study_id)
    if result.due_in is not None:
        # A later instance postponed the decision: come back when it is due.
        reconcile_later(study_id, result.due_in)
        return f"due in {result.due_in:.1f} s"
    return result.decision.outcome if result.decision else "nothing to decide"


@shared_task(name="worklist.sweep_studies", ignore_result=True)
def sweep_studies() -> int:
    due = studies.studies_due()
    for study_id in due:
        enqueue(study_id)
    return len(due)


@shared_task(name="worklist.poll_pacs", ignore_result=True, acks_late=True)
def poll_pacs() -> dict:
    from worklist.dicom import pacs

    return pacs.poll().summary()


def enqueue(study_id: int) -> None:
    """Reconcile now: on a worker through the broker, or here when there is none."""
    reconcile_study.apply_async(args=[study_id], retry=False)


def reconcile_later(study_id: int, delay: float) -> bool:
    """Ask for a decision on a study in `delay` seconds (the end of its quiet period).

    With a broker: a task with a countdown, sent once without retrying, so a broker
    that is down never holds up a DICOM sender (the sweeper enqueues the study later).
    Without one: the in-process scheduler of `runris` when it runs in this process;
    otherwise its sweeper finds the study. Returns whether anything was scheduled."""
    if inprocess.call_later(delay, reconcile_study.name, study_id):
        return True
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return False
    try:
        reconcile_study.apply_async(args=[study_id], countdown=max(delay, 0), retry=False)
    except Exception as exc:  # noqa: BLE001 - the study waits in the database for the sweeper
        logger.warning("Cannot enqueue the reconciliation of study %s: %s", study_id, exc)
        return False
    return True
