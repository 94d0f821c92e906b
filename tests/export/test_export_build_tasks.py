"""The build runs as the Celery task `export.build`, sent when an export is approved:
on a real worker through Redis in production, in-process with the embedded default
(no broker). Progress is visible while it runs."""

import uuid

import pytest
from celery.app.trace import reset_worker_optimizations, setup_worker_optimizations
from celery.contrib.testing.worker import start_worker
from django.test import TestCase
from kombu import Exchange, Queue

from export import services
from export.models import Export, ExportStatus
from export.tasks import build_export
from ris.celery import app
from tests.export.conftest import read_csv, request_export, zip_of
from tests.test_celery import remove_queue


@pytest.fixture
def in_process():
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.mark.django_db
def test_without_a_broker_the_approval_builds_in_process(
    in_process, department, researcher, officer
):
    export = request_export(researcher)
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.export_decide(export=export, officer=officer, approve=True, comment="EC-1")
    export.refresh_from_db()
    assert export.status == ExportStatus.READY
    assert export.progress_done == export.progress_total == 11  # 7 steps and 4 MPPS
    assert len(read_csv(zip_of(export), "worklist.csv")) == 7


@pytest.mark.django_db
def test_progress_is_reported_while_building(department, researcher, officer, monkeypatch):
    seen = []
    monkeypatch.setattr("export.build.PROGRESS_SECONDS", 0)
    monkeypatch.setattr(
        services, "export_progress", lambda **kw: seen.append((kw["done"], kw["total"]))
    )
    export = request_export(researcher)
    services.export_decide(export=export, officer=officer, approve=True, comment="EC-1")
    services.export_build(export_id=export.pk)
    assert seen[0] == (0, 11) and seen[-1] == (11, 11)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


@pytest.mark.django_db
def test_a_task_delivered_twice_builds_once(department, researcher, officer):
    export = request_export(researcher)
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.export_decide(export=export, officer=officer, approve=True, comment="EC-1")
    first = Export.objects.get(pk=export.pk).file_name
    assert build_export.apply(args=[export.pk]).get()["status"] == ExportStatus.READY
    assert Export.objects.get(pk=export.pk).file_name == first


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_worker_on_redis_builds_an_approved_export(department, researcher, officer, monkeypatch):
    assert app.conf.task_always_eager is False
    assert app.conf.broker_url.startswith(("redis://", "rediss://"))
    # A queue of its own: no other worker on the same Redis takes the task.
    name = f"test-export-build-{uuid.uuid4().hex}"
    queue = Queue(name, Exchange(name), routing_key=name)
    sent = []

    def to_own_queue(export_id):
        sent.append(build_export.apply_async(args=[export_id], queue=queue))

    monkeypatch.setattr(build_export, "delay", to_own_queue)
    hostname = f"test-export-worker-{uuid.uuid4().hex[:8]}@localhost"
    setup_worker_optimizations(app, hostname)
    try:
        with start_worker(app, hostname=hostname, queues=[name], perform_ping_check=False):
            export = request_export(researcher)
            services.export_decide(export=export, officer=officer, approve=True, comment="EC-1")
            (result,) = sent
            answer = result.get(timeout=60)
    finally:
        reset_worker_optimizations(app)
        remove_queue(queue)
        for result in sent:
            result.forget()
    assert answer["status"] == ExportStatus.READY
    export.refresh_from_db()
    assert export.status == ExportStatus.READY and export.progress_done == 11
    assert len(read_csv(zip_of(export), "worklist.csv")) == 7
