"""PostgreSQL draws generated identifiers from sequences (see worklist.identifiers),
starting after whatever the counter rows had already handed out."""

from django.db import migrations

from worklist.identifiers import COUNTERS, sequence_name


def create_sequences(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    counter = apps.get_model("worklist", "IdentifierCounter")
    for name in COUNTERS:
        row = counter.objects.filter(name=name).first()
        start = (row.value if row else 0) + 1
        schema_editor.execute(
            f"CREATE SEQUENCE IF NOT EXISTS {sequence_name(name)} START WITH {int(start)}"
        )


def drop_sequences(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in COUNTERS:
        schema_editor.execute(f"DROP SEQUENCE IF EXISTS {sequence_name(name)}")


class Migration(migrations.Migration):
    dependencies = [("worklist", "0005_known_modalities")]
    operations = [migrations.RunPython(create_sequences, drop_sequences)]
