"""Covering indexes for the compliance pages (issue 13): each page's reads become
index-only scans, not lookups of rows scattered over the year's events.

* audit_patient_seq_time replaces audit_patient_event: the same keys (a patient's
  events, newest first) with the rows' time included, so a report's period is
  filtered in the index.
* audit_event_actor: the actor columns by seq, for the report's summary by actor (one
  probe of this index per access, not of the event table).
* audit_patient_time_ids replaces audit_patient_time: the period's patient rows with
  their event and patient, for unusual access.
* audit_event_opened: the period's events by a person with their user and action, for
  unusual access (opened records, accesses outside working hours).

Index-only scans rely on the visibility map, which autovacuum keeps for this
insert-only table (PostgreSQL 13 and later vacuum after inserts). Built CONCURRENTLY
on PostgreSQL so that writing the trail is not blocked while they build."""

from django.db import migrations, models
from django.db.models import Q

OLD_PATIENT_EVENT = models.Index(
    fields=["patient_id", "issuer_of_patient_id", "-event"], name="audit_patient_event"
)
OLD_PATIENT_TIME = models.Index(fields=["event_date_time"], name="audit_patient_time")

PATIENT_SEQ_TIME = models.Index(
    fields=["patient_id", "issuer_of_patient_id", "-event"],
    include=["event_date_time"],
    name="audit_patient_seq_time",
)
PATIENT_TIME_IDS = models.Index(
    fields=["event_date_time"],
    include=["event", "patient_id", "issuer_of_patient_id"],
    name="audit_patient_time_ids",
)
EVENT_ACTOR = models.Index(
    fields=["seq"],
    include=["username", "ae_title", "role", "channel", "event_action_code", "event_date_time"],
    name="audit_event_actor",
)
EVENT_OPENED = models.Index(
    fields=["event_date_time"],
    include=["seq", "user_pk", "username", "action"],
    condition=Q(user_pk__isnull=False),
    name="audit_event_opened",
)

POSTGRES_CREATE = [
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_patient_seq_time ON audit_eventpatient "
    "(patient_id, issuer_of_patient_id, event_id DESC) INCLUDE (event_date_time)",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_patient_time_ids ON audit_eventpatient "
    "(event_date_time) INCLUDE (event_id, patient_id, issuer_of_patient_id)",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_event_actor ON audit_event "
    "(seq) INCLUDE (username, ae_title, role, channel, event_action_code, event_date_time)",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_event_opened ON audit_event "
    "(event_date_time) INCLUDE (seq, user_pk, username, action) WHERE user_pk IS NOT NULL",
    "DROP INDEX CONCURRENTLY IF EXISTS audit_patient_event",
    "DROP INDEX CONCURRENTLY IF EXISTS audit_patient_time",
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in POSTGRES_CREATE:
            schema_editor.execute(statement)
        return
    event = apps.get_model("audit", "Event")
    patient = apps.get_model("audit", "EventPatient")
    schema_editor.add_index(patient, PATIENT_SEQ_TIME)
    schema_editor.add_index(patient, PATIENT_TIME_IDS)
    schema_editor.add_index(event, EVENT_ACTOR)
    schema_editor.add_index(event, EVENT_OPENED)
    schema_editor.remove_index(patient, OLD_PATIENT_EVENT)
    schema_editor.remove_index(patient, OLD_PATIENT_TIME)


def drop(apps, schema_editor):
    event = apps.get_model("audit", "Event")
    patient = apps.get_model("audit", "EventPatient")
    schema_editor.add_index(patient, OLD_PATIENT_EVENT)
    schema_editor.add_index(patient, OLD_PATIENT_TIME)
    schema_editor.remove_index(patient, PATIENT_SEQ_TIME)
    schema_editor.remove_index(patient, PATIENT_TIME_IDS)
    schema_editor.remove_index(event, EVENT_ACTOR)
    schema_editor.remove_index(event, EVENT_OPENED)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("audit", "0007_patient_time_index")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="eventpatient", name="audit_patient_event"),
                migrations.RemoveIndex(model_name="eventpatient", name="audit_patient_time"),
                migrations.AddIndex(model_name="eventpatient", index=PATIENT_SEQ_TIME),
                migrations.AddIndex(model_name="eventpatient", index=PATIENT_TIME_IDS),
                migrations.AddIndex(model_name="event", index=EVENT_ACTOR),
                migrations.AddIndex(model_name="event", index=EVENT_OPENED),
            ],
            database_operations=[migrations.RunPython(create, drop)],
        )
    ]
