"""A Celery worker killed (SIGKILL, the whole process group) in the middle of a study's
reconciliation: the task is `acks_late`, so nothing of it is lost; the study is
decided by another worker (the sweeper enqueues every study past its quiet period
without a decision) and exactly one outcome is recorded, never two."""

import re
import time

import psycopg
import pytest

from tests.conftest import require_peer
from tests.studies.dicom_files import StudySpec, storescu, write_study

from .rig import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def decisions(rig, study_uid: str) -> list[tuple]:
    return rig.sql(
        "SELECT d.outcome FROM worklist_studydecision d JOIN worklist_study s "
        "ON s.id = d.study_id WHERE s.study_instance_uid = %s",
        (study_uid,),
    )


def waiting_on_a_lock(rig) -> int:
    """Sessions of the test's database waiting for a row lock (the worker's task)."""
    return rig.sql(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
        (rig.database,),
    )[0][0]


def test_a_task_of_a_killed_worker_runs_again_on_another_and_decides_once(rig, tmp_path):
    rig.with_redis()
    rig.variables.update(RIS_RECONCILE_QUIET_SECONDS="2", RIS_RECONCILE_SWEEP_SECONDS="1")
    rig.dicomserver()
    first = rig.worker("worker-1")
    rig.beat()
    spec = StudySpec(series=(2,), rows=8, columns=8)
    sent = storescu(
        require_peer("storescu", "dcmtk"), rig.dicom_port, write_study(spec, tmp_path / "s")
    )
    assert sent.returncode == 0, sent.stderr

    # Hold the study's row so the worker's task stops inside its transaction.
    with psycopg.connect(rig.server.url(rig.database)) as holder:
        locked = holder.execute(
            "SELECT id FROM worklist_study WHERE study_instance_uid = %s FOR UPDATE",
            (spec.study_instance_uid,),
        ).fetchone()
        assert locked and not decisions(rig, spec.study_instance_uid), "decided too early"
        wait_for(lambda: waiting_on_a_lock(rig) >= 1, 60, rig.logs)
        assert "worklist.reconcile_study" in first.output()

        first.kill()  # mid-task: nothing acknowledged, nothing committed
        assert not decisions(rig, spec.study_instance_uid)
        holder.rollback()

    second = rig.worker("worker-2")
    wait_for(lambda: decisions(rig, spec.study_instance_uid), 60, rig.logs)
    assert "reconcile_study" in second.output() and "succeeded" in second.output()
    assert decisions(rig, spec.study_instance_uid) == [("UNSCHEDULED",)]
    # Whatever else was queued for it meanwhile (the sweeper's, when it came round
    # while the first worker held the study; not in every run) changes nothing more:
    # each further run of the task finds nothing to decide.
    time.sleep(3)  # three turns of the sweeper after the decision
    assert decisions(rig, spec.study_instance_uid) == [("UNSCHEDULED",)]
    outcomes = re.findall(
        r"reconcile_study\[[^\]]+\] succeeded in [\d.e-]+s: '([^']*)'", second.output()
    )
    assert outcomes.count("UNSCHEDULED") == 1, outcomes
    assert set(outcomes) <= {"UNSCHEDULED", "nothing to decide"}, outcomes
