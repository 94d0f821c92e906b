"""The scheduled integrity check: a Celery task, planned daily, recording its result."""

import pytest
from celery.schedules import crontab

from audit import tasks
from audit.codes import Outcome
from audit.schedule import BEAT_SCHEDULE

from .conftest import events_after

pytestmark = pytest.mark.django_db


def test_the_verify_task_is_scheduled_daily():
    entry = BEAT_SCHEDULE["audit-verify-daily"]
    assert entry["task"] == tasks.verify_chain.name == "audit.verify_chain"
    assert isinstance(entry["schedule"], crontab)
    assert entry["schedule"].hour == {2} and entry["schedule"].minute == {30}


def test_the_task_records_its_result_as_an_event(mark):
    result = tasks.verify_chain.apply().get()

    assert result["intact"] is True
    [run] = events_after(mark)
    assert run.get_action_display() == "Audit Log Used"
    assert run.event_action_code == "E"
    assert run.event_outcome_indicator == Outcome.SUCCESS
    assert run.channel == "task"
    assert run.detail.startswith("audit verify: hash chain intact")


def test_forwarding_and_expiry_tasks_do_nothing_unconfigured(settings):
    settings.AUDIT_SYSLOG_HOST = ""
    settings.AUDIT_RETENTION_MONTHS = 0
    assert tasks.forward_syslog.apply().get() == {"sent": 0, "pending": False, "error": ""}
    assert "nothing expires" in tasks.expire.apply().get()["summary"]
