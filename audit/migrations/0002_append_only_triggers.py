"""Append-only in the database itself: triggers refuse UPDATE, DELETE and TRUNCATE on
the audit tables (see audit/triggers.py)."""

from django.db import migrations

from audit import triggers


def install(apps, schema_editor):
    triggers.install(schema_editor)


def uninstall(apps, schema_editor):
    triggers.uninstall(schema_editor)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall)]
