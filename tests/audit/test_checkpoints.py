"""Signed checkpoints of the chain's head, outside the database: a cut of the newest
events, or a rewrite by someone holding the key, is found against the last one."""

import json

import pytest
from celery.schedules import schedule as every
from django.core.management import call_command

from audit import chain, checkpoints, conf, services, syslog, tasks
from audit.codes import Action
from audit.schedule import BEAT_SCHEDULE

from .conftest import rechain, triggers_bypassed
from .test_syslog_forwarding import Repository, self_signed

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail():
    return [services.record(Action.PATIENT_RECORD, patients=[(f"P{i}", "H")]) for i in range(6)]


def verify_output(capsys):
    with pytest.raises(SystemExit) as exit_info:
        call_command("audit", "verify")
    return exit_info.value.code, capsys.readouterr()


def lines() -> list[dict]:
    return [json.loads(line) for line in checkpoints.path().read_text().splitlines()]


def test_a_checkpoint_signs_the_head_into_the_file(trail):
    published = checkpoints.publish()

    [line] = lines()
    assert (line["seq"], line["head"]) == (trail[-1].seq, trail[-1].hash)
    assert line["key_id"] == conf.current_key().id
    assert line["time"].endswith("Z")
    checkpoint = checkpoints.Checkpoint.parse(json.dumps(line))
    assert checkpoint == published.checkpoint
    assert checkpoint.signature_problem(conf.chain_keys()) == ""


def test_the_file_is_only_appended_to(trail):
    checkpoints.path().write_text("what was there before\n")
    checkpoints.publish()
    assert checkpoints.publish().skipped.endswith("already checkpointed")
    services.record(Action.PATIENT_RECORD)
    checkpoints.publish()

    text = checkpoints.path().read_text().splitlines()
    assert text[0] == "what was there before"
    assert len(text) == 3


def test_cutting_the_newest_events_after_a_checkpoint_is_named(trail, capsys):
    checkpoints.publish()
    with triggers_bypassed() as cursor:
        cursor.execute("DELETE FROM audit_eventpatient WHERE event_id >= %s", [trail[3].seq])
        cursor.execute("DELETE FROM audit_event WHERE seq >= %s", [trail[3].seq])
    assert chain.verify().intact  # the keyed chain alone cannot see a cut

    status, output = verify_output(capsys)

    assert status == 1
    assert f"BROKEN at event #{trail[3].seq}" in output.err
    assert f"events #{trail[3].seq}..#{trail[-1].seq}, covered by the checkpoint" in output.err
    assert "the newest events were cut off" in output.err


def test_a_rewrite_with_the_key_after_a_checkpoint_is_named(trail, capsys):
    """Someone with the database and the key rewrites event 2 and rechains."""
    checkpoints.publish()
    victim = trail[2]

    def rename(event):
        if event.seq == victim.seq:
            event.username = "nobody"

    rechain(rename, start=victim.seq)
    assert chain.verify().intact  # a valid keyed chain

    status, output = verify_output(capsys)

    assert status == 1
    assert f"BROKEN at event #{trail[-1].seq}" in output.err
    assert "rewritten after that checkpoint" in output.err


def test_events_after_the_checkpoint_verify(trail, capsys):
    checkpoints.publish()
    services.record(Action.PATIENT_RECORD)
    call_command("audit", "verify")
    out = capsys.readouterr().out
    assert "hash chain intact" in out
    assert "1 checkpoints, newest" in out


def test_a_forged_checkpoint_line_is_found(trail, capsys):
    checkpoints.publish()
    [line] = lines()
    line["seq"] += 100
    with open(checkpoints.path(), "a") as handle:
        handle.write(json.dumps(line) + "\n")

    status, output = verify_output(capsys)

    assert status == 1
    assert "line 2" in output.err and "forged or altered" in output.err


def test_a_torn_last_line_is_ignored(trail, capsys):
    checkpoints.publish()
    with open(checkpoints.path(), "a") as handle:
        handle.write('{"seq": 12, "he')
    call_command("audit", "verify")
    assert "1 unreadable lines ignored" in capsys.readouterr().out


def test_a_tampered_head_is_never_signed(trail):
    checkpoints.publish()
    services.record(Action.PATIENT_RECORD)
    newest = services.record(Action.PATIENT_RECORD)
    with triggers_bypassed() as cursor:
        cursor.execute("UPDATE audit_event SET detail = 'x' WHERE seq = %s", [newest.seq])

    published = checkpoints.publish()

    assert published.checkpoint is None
    assert f"BROKEN at event #{newest.seq}" in published.skipped
    assert len(lines()) == 1


def test_the_checkpoint_task_runs_every_five_minutes(trail):
    entry = BEAT_SCHEDULE["audit-checkpoint"]
    assert entry["task"] == tasks.checkpoint.name == "audit.checkpoint"
    assert every(entry["schedule"]).run_every.total_seconds() == 300
    result = tasks.checkpoint.apply().get()
    assert (result["seq"], result["head"]) == (trail[-1].seq, trail[-1].hash)


def test_the_checkpoint_goes_to_the_syslog_repository(trail, settings, tmp_path):
    cert_file, key_file = self_signed(tmp_path)
    port = free_port()
    settings.AUDIT_SYSLOG_HOST, settings.AUDIT_SYSLOG_PORT = "127.0.0.1", port
    settings.AUDIT_SYSLOG_CA_FILE = str(cert_file)
    repository = Repository(port, cert_file, key_file)

    published = checkpoints.publish()

    [message] = repository.messages()
    header, _, line = message.partition(b" RIS-CHECKPOINT - ")
    assert header.startswith(b"<85>1 ")
    assert published.syslog_error == ""
    assert checkpoints.Checkpoint.parse(line.decode()) == published.checkpoint


def test_a_repository_that_is_down_does_not_stop_the_file(trail, settings):
    settings.AUDIT_SYSLOG_HOST, settings.AUDIT_SYSLOG_PORT = "127.0.0.1", free_port()
    published = checkpoints.publish()
    assert "ConnectionRefused" in published.syslog_error
    assert len(lines()) == 1


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_syslog_message_is_rfc5424():
    message = syslog.checkpoint_message('{"seq":1}', hostname="ris.example")
    assert message.startswith(b"<85>1 ")
    assert message.endswith(b' RIS - RIS-CHECKPOINT - {"seq":1}')


def test_the_checkpoint_command_publishes_now(trail, capsys):
    call_command("audit", "checkpoint")
    assert f"Checkpoint #{trail[-1].seq}" in capsys.readouterr().out
    assert len(lines()) == 1


def test_an_unreadable_checkpoint_file_fails_verify(trail, capsys, settings, tmp_path):
    settings.AUDIT_CHECKPOINT_FILE = str(tmp_path)  # a directory: cannot be read as a file
    status, output = verify_output(capsys)
    assert status == 1
    assert "cannot be read" in output.err
