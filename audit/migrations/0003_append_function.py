"""Once audit_append(), the unkeyed chain append as one server-side call on
PostgreSQL. The keyed chain cannot hash in the database (the key stays out of it):
migration 0004 drops that function and installs audit_chain_head() instead, so a
fresh database no longer creates it here."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_append_only_triggers"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = []
