"""worklist_follow(): the writes that follow a performed step's change (step and
order statuses, order history lines) as one server-side call on PostgreSQL (see
worklist/services/performed_steps.py). Other databases write them through the ORM."""

from django.db import migrations

from worklist.services import performed_steps


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(performed_steps.FOLLOW_FUNCTION)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("DROP FUNCTION IF EXISTS worklist_follow")


class Migration(migrations.Migration):
    dependencies = [("worklist", "0007_performed_procedure_step")]

    operations = [migrations.RunPython(install, uninstall)]
