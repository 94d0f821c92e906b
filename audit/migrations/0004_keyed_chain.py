"""The keyed chain: events record the ID of the audit key that chained them (empty
for events an earlier version chained without a key). On PostgreSQL the hash is made
in Python, which alone holds the key: audit_chain_head() reads the head, and
audit_append() (which replaces the one of migration 0003, that hashed in the
database) writes the event if the head has not moved."""

from django.db import migrations, models

from audit import chain, triggers


def install(apps, schema_editor):
    triggers.install(schema_editor)  # SQLite rebuilt audit_event without them
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("DROP FUNCTION IF EXISTS audit_append")
            cursor.execute(chain.chain_head_function_sql())
            cursor.execute(chain.append_function_sql())


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("DROP FUNCTION IF EXISTS audit_chain_head")
            cursor.execute("DROP FUNCTION IF EXISTS audit_append")


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_append_function")]

    operations = [
        migrations.AddField(
            model_name="event",
            name="key_id",
            field=models.CharField(
                blank=True,
                default="",
                help_text="ID of the audit key that chained it; empty: chained without a key by an earlier version.",
                max_length=16,
            ),
        ),
        migrations.RunPython(install, uninstall),
    ]
