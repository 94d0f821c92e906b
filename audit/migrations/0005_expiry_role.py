"""Privilege separation on PostgreSQL: the append-only triggers honour a delete permit
only for the tables' owner, and audit_expire() (SECURITY DEFINER, owned by the role
that runs this migration) is the one way to delete: anchor, permit and deletion in
one checked call, executable by no one until the expiry role is granted it
(docs/operations.md, "Database roles")."""

from django.db import migrations

from audit import retention, triggers


def install(apps, schema_editor):
    triggers.install(schema_editor)
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(retention.EXPIRE_FUNCTION)
            cursor.execute(
                "REVOKE ALL ON FUNCTION audit_expire(bigint, text, timestamptz, bigint) FROM PUBLIC"
            )


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "DROP FUNCTION IF EXISTS audit_expire(bigint, text, timestamptz, bigint)"
            )


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_keyed_chain")]

    operations = [migrations.RunPython(install, uninstall)]
