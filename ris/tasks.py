"""Celery tasks of the project itself (the apps keep theirs in their own tasks.py).

`celery -A ris call ris.health_check` checks a deployment end to end: the broker
carries the call, a worker runs it against the database, and the result backend
brings the answer back naming the worker that ran it.
"""

from celery import shared_task
from django.db import connection


def health_report(*, worker: str) -> dict[str, str]:
    """Raises when the database does not answer, so the check fails loudly instead
    of reporting a worker that cannot do any real work."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"database": "ok", "worker": worker}


@shared_task(bind=True, name="ris.health_check")
def health_check(self) -> dict[str, str]:
    worker = "in-process" if self.request.is_eager else self.request.hostname
    return health_report(worker=worker)
