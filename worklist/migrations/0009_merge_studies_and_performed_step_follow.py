"""Joins two migrations made side by side: the arriving studies and the MPPS follow-up
function touch different tables."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("worklist", "0008_arriving_studies_and_pacs_peers"),
        ("worklist", "0008_performed_step_follow_function"),
    ]

    operations = []
