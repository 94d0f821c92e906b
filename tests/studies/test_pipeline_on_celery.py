"""The production path end to end: the DICOM listener (`dicomserver`), a real Celery
worker (`celery -A ris worker`) and beat (`celery -A ris beat`) as separate processes
on PostgreSQL and a private Redis server that the test stops and starts (the shared
Redis is never touched). Nothing is lost when the worker or Redis is down: intake
writes the database first, the task waits in Redis or the sweeper finds the study."""

import os
import sys
import time
import uuid

import pytest
from django.db import connection

from tests.conftest import require_peer
from tests.faults.rig import PrivateRedis, Process, free_port, wait_for
from tests.faults.rig import answers as _answers
from worklist.models import Study, StudyDecision

from .conftest import EXAM_DAY
from .dicom_files import StudySpec, storescu, write_study

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def rig(tmp_path, transactional_db):
    """Environment of the RIS processes: the test database, a private Redis."""
    redis = PrivateRedis(tmp_path)
    redis.start()
    database = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RIS_", "CELERY_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="ris.settings",
        SECRET_KEY="pipeline-test-secret",
        RIS_AUDIT_KEY="pipeline-test-audit-key-0123456789abcdef",
        DATABASE_URL=f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
        f"{database['NAME']}",
        DATABASE_POOL_SIZE="2",
        CELERY_BROKER_URL=redis.url,
        RIS_DATA_DIR=str(tmp_path / "data"),
        RIS_DICOM_STRICT_AE="0",
        RIS_RECONCILE_QUIET_SECONDS="1",
        RIS_RECONCILE_SWEEP_SECONDS="1",
        PYTHONUNBUFFERED="1",
    )
    started: list[Process] = []

    class Rig:
        def __init__(self):
            self.redis = redis
            self.dicom_port = free_port()

        def start(self, name: str, *args: str) -> Process:
            process = Process(name, list(args), env, tmp_path)
            started.append(process)
            return process

        def dicomserver(self) -> Process:
            process = self.start(
                "dicomserver",
                sys.executable,
                "manage.py",
                "dicomserver",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.dicom_port),
            )
            wait_for(lambda: _answers(self.dicom_port), 60, process.output())
            return process

        def worker(self) -> Process:
            return self.start(
                "worker",
                sys.executable,
                "-m",
                "celery",
                "-A",
                "ris",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
                "--without-mingle",
                "--without-gossip",
                "-n",
                f"pipeline-{uuid.uuid4().hex[:8]}@localhost",
            )

        def beat(self) -> Process:
            return self.start(
                "beat",
                sys.executable,
                "-m",
                "celery",
                "-A",
                "ris",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(tmp_path / "beat-schedule"),
            )

        def logs(self) -> str:
            return "\n".join(f"--- {p.log.name}\n{p.output()}" for p in started)

    yield Rig()
    for process in reversed(started):
        process.stop()
    redis.stop()


def store_study(rig, tmp_path, **spec_fields) -> StudySpec:
    spec = StudySpec(series=(2, 1), **spec_fields)
    paths = write_study(spec, tmp_path / spec.study_instance_uid)
    sent = storescu(require_peer("storescu", "dcmtk"), rig.dicom_port, paths, timeout=60)
    assert sent.returncode == 0, sent.stderr + rig.logs()
    assert "Store Failed" not in sent.stderr
    return spec


def outcome_of(spec: StudySpec) -> str:
    study = Study.objects.filter(study_instance_uid=spec.study_instance_uid).first()
    return study.outcome if study else ""


def test_a_study_stored_while_the_worker_is_stopped_is_decided_once_it_starts(rig, tmp_path):
    rig.dicomserver()
    spec = store_study(rig, tmp_path)
    study = Study.objects.get(study_instance_uid=spec.study_instance_uid)
    assert study.number_of_study_related_instances == 3
    time.sleep(2)  # past the quiet period, with nobody to decide
    assert outcome_of(spec) == ""

    rig.worker()

    assert wait_for(lambda: outcome_of(spec), 60, rig.logs()) == "UNSCHEDULED"
    assert StudyDecision.objects.filter(study=study).count() == 1


def test_a_study_stored_while_redis_is_down_is_decided_once_it_is_back(rig, tmp_path):
    rig.dicomserver()
    rig.worker()
    rig.beat()
    rig.redis.stop()

    started = time.monotonic()
    spec = store_study(rig, tmp_path)
    assert time.monotonic() - started < 20  # the sender is never held up by the broker
    study = Study.objects.get(study_instance_uid=spec.study_instance_uid)
    assert study.number_of_study_related_instances == 3
    time.sleep(3)
    assert outcome_of(spec) == ""

    rig.redis.start()

    assert wait_for(lambda: outcome_of(spec), 90, rig.logs()) == "UNSCHEDULED"
    assert StudyDecision.objects.filter(study=study).count() == 1


def test_the_pipeline_matches_a_booked_study_through_the_worker(rig, tmp_path, book):
    order = book(accession_number="A0777", start=None)
    rig.dicomserver()
    rig.worker()

    spec = store_study(rig, tmp_path, accession_number="A0777", study_date=f"{EXAM_DAY:%Y%m%d}")

    assert wait_for(lambda: outcome_of(spec), 60, rig.logs()) == "MATCHED"
    assert Study.objects.get(study_instance_uid=spec.study_instance_uid).order == order
