"""Scheduled upkeep of the audit trail (see audit/schedule.py for when). Thin: the
work is in audit.services, audit.retention, audit.syslog and audit.checkpoints; each
task runs with an audit context naming it (audit.signals)."""

from celery import shared_task

from . import checkpoints, retention, rollup, services, syslog


@shared_task(name="audit.verify_chain")
def verify_chain() -> dict:
    report = services.verify_and_record()
    return {"intact": report.ok, "summary": report.summary()}


@shared_task(name="audit.expire")
def expire() -> dict:
    return {"summary": retention.expire().summary()}


@shared_task(name="audit.forward_syslog", acks_late=True)
def forward_syslog() -> dict:
    result = syslog.forward()
    return {"sent": result.sent, "pending": result.pending, "error": result.error}


@shared_task(name="audit.checkpoint")
def checkpoint() -> dict:
    return checkpoints.publish().as_dict()


@shared_task(name="audit.roll_up_openings")
def roll_up_openings() -> dict:
    return {"rows": rollup.roll_up_openings()}
