"""The embedded default does the whole job: with no broker, `runris` runs the quiet
period, the sweeper and every periodic task in-process (ris/inprocess.py)."""

import sqlite3
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from ris import inprocess
from ris.celery import app
from tests.test_runris import Service, free_port, service_env

from .dicom_files import StudySpec, storescu, write_study


@pytest.fixture
def eager():
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def wait_for(predicate, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


def test_the_scheduler_runs_periodic_entries_and_tasks_asked_for_later(
    transactional_db, eager, settings
):
    from tests.studies.test_reconciliation import arrive
    from worklist.models import Study

    settings.RIS_RECONCILE_QUIET_SECONDS = 30
    swept = arrive(study_uid="1.2.3.5")
    Study.objects.filter(pk=swept.pk).update(reconcile_after=timezone.now() - timedelta(seconds=1))
    later = arrive(study_uid="1.2.3.6")
    Study.objects.filter(pk=later.pk).update(reconcile_after=timezone.now())
    scheduler = inprocess.Scheduler(
        app, {"sweep": {"task": "worklist.sweep_studies", "schedule": 0.5}}
    ).start()
    try:
        # The periodic sweeper decides the study past its quiet period...
        assert wait_for(lambda: Study.objects.get(pk=swept.pk).outcome, 10) == "UNSCHEDULED"
        # ...and a task asked for later runs when due.
        scheduler.periodic.clear()
        scheduler.call_later(0.3, "worklist.reconcile_study", later.pk)
        assert wait_for(lambda: Study.objects.get(pk=later.pk).outcome, 10) == "UNSCHEDULED"
    finally:
        scheduler.stop()


def test_the_audit_chain_upkeep_is_in_the_in_process_schedule(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"audit.verify_chain", "audit.expire", "worklist.sweep_studies"} <= tasks
    scheduler = inprocess.Scheduler(app, settings.CELERY_BEAT_SCHEDULE)
    assert {entry.task for entry in scheduler.periodic} == tasks


def test_runris_alone_reconciles_a_stored_study_after_its_quiet_period(tmp_path):
    storescu_path = __import__("tests.conftest", fromlist=["require_peer"]).require_peer(
        "storescu", "dcmtk"
    )
    http, dicom = free_port(), free_port()
    service = Service(
        tmp_path,
        env=service_env(
            tmp_path,
            RIS_HTTP_PORT=str(http),
            RIS_DICOM_PORT=str(dicom),
            RIS_HTTP_WORKERS="1",
            RIS_DICOM_STRICT_AE="0",
            RIS_RECONCILE_QUIET_SECONDS="2",
        ),
    )
    try:
        service.wait_until_healthy(http)
        spec = StudySpec(series=(2,))
        sent = storescu(storescu_path, dicom, write_study(spec, tmp_path / "study"))
        assert sent.returncode == 0, sent.stderr
        stored_at = time.monotonic()

        def outcome():
            with sqlite3.connect(tmp_path / "data" / "ris.sqlite3", timeout=10) as db:
                row = db.execute(
                    "SELECT outcome FROM worklist_study WHERE study_instance_uid = ?",
                    (spec.study_instance_uid,),
                ).fetchone()
            return row[0] if row else ""

        assert wait_for(outcome, 20) == "UNSCHEDULED", service.output
        assert time.monotonic() - stored_at >= 1.5  # not before the quiet period
    finally:
        service.terminate()
