"""Django's flush, which must get past the audit tables' append-only triggers.

It may wipe the audit trail only on a test database while tests run (the test runner
flushes between transactional tests); anywhere else the triggers refuse and nothing
is flushed, as an audit trail must not vanish with a stray command.
"""

from django.core import mail
from django.core.management.commands import flush
from django.db import connections
from django.db.backends.base.creation import TEST_DATABASE_PREFIX

from audit import triggers


def is_test_database(connection) -> bool:
    """The database the test runner made, while tests run (the runner sets up the
    in-memory mail outbox for them)."""
    name = str(connection.settings_dict["NAME"])
    in_memory = getattr(connection, "is_in_memory_db", lambda: False)()
    test_name = (connection.settings_dict.get("TEST") or {}).get("NAME")
    made_by_runner = in_memory or name == test_name or name.startswith(TEST_DATABASE_PREFIX)
    return made_by_runner and hasattr(mail, "outbox")


class Command(flush.Command):
    def handle(self, **options):
        connection = connections[options["database"]]
        if not is_test_database(connection):
            return super().handle(**options)
        with triggers.delete_permit("flush of the test database"):
            return super().handle(**options)
