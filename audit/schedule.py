"""When the audit tasks run, for Celery beat: in ris/settings.py

    from audit.schedule import BEAT_SCHEDULE as AUDIT_BEAT_SCHEDULE
    CELERY_BEAT_SCHEDULE = {**AUDIT_BEAT_SCHEDULE}

and run `celery -A ris beat` beside the worker.
"""

from celery.schedules import crontab

BEAT_SCHEDULE = {
    "audit-verify-daily": {"task": "audit.verify_chain", "schedule": crontab(hour=2, minute=30)},
    "audit-expire-daily": {"task": "audit.expire", "schedule": crontab(hour=3, minute=15)},
    "audit-forward-syslog": {"task": "audit.forward_syslog", "schedule": 30.0},
    "audit-checkpoint": {"task": "audit.checkpoint", "schedule": 300.0},
    # the closed hours' opened records for the unusual-access review (audit.rollup)
    "audit-roll-up-openings": {"task": "audit.roll_up_openings", "schedule": 600.0},
}
