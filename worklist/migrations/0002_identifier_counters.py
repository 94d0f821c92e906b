from django.db import migrations

COUNTERS = ("accession_number", "requested_procedure_id", "scheduled_procedure_step_id")


def create_counters(apps, schema_editor):
    counter = apps.get_model("worklist", "IdentifierCounter")
    for name in COUNTERS:
        counter.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [("worklist", "0001_initial")]
    operations = [migrations.RunPython(create_counters, migrations.RunPython.noop)]
