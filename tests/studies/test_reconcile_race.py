"""Two workers deciding the same study at the same moment record one outcome (the
study's row lock on PostgreSQL, and one decision per revision as a constraint)."""

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from worklist.models import Study, StudyDecision
from worklist.services import studies

from .test_reconciliation import arrive

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_workers_on_one_study_record_one_outcome(book):
    book(study_instance_uid="1.2.3.1")
    study = arrive()
    later = timezone.now() + timedelta(seconds=31)
    start = threading.Barrier(4)
    results = []

    def worker():
        try:
            start.wait()
            results.append(studies.study_reconcile(study_id=study.pk, now=later))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    decided = [r for r in results if r.decision is not None]
    assert len(results) == 4 and len(decided) == 1
    assert StudyDecision.objects.filter(study=study).count() == 1
    assert Study.objects.get(pk=study.pk).outcome == "MATCHED"
