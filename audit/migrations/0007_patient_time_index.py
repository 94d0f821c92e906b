"""An index on the patient rows' own event time: the unusual-access review reads the
records opened in a period as one range scan of it (issue 13), not a scan of every
patient row. Built CONCURRENTLY on PostgreSQL so that writing the trail, which every
audited request does, is not blocked while it builds on a large trail."""

from django.db import migrations, models

INDEX = models.Index(fields=["event_date_time"], name="audit_patient_time")


def create(apps, schema_editor):
    model = apps.get_model("audit", "EventPatient")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_patient_time "
            "ON audit_eventpatient (event_date_time)"
        )
    else:
        schema_editor.add_index(model, INDEX)


def drop(apps, schema_editor):
    model = apps.get_model("audit", "EventPatient")
    schema_editor.remove_index(model, INDEX)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("audit", "0006_hl7_channel")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="eventpatient", index=INDEX)],
            database_operations=[migrations.RunPython(create, drop)],
        )
    ]
