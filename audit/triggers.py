"""The database triggers that make the audit tables append-only.

UPDATE is refused always. DELETE and TRUNCATE are refused unless the deleting
transaction holds a permit (a row in `audit_permit`, a table no model maps, inserted
and removed inside that same transaction): only `audit expire` takes one, to drop
expired months, and the test database's flush. On PostgreSQL the permit counts only
for the role that owns the tables: the application's own role (docs/operations.md,
"Database roles") cannot delete at all; the expiry goes through audit_expire(), a
SECURITY DEFINER function of the owner that only the expiry role may call. A session
with the privileges to disable triggers (a superuser, the owner) can still change
rows; the keyed chain and the checkpoints are what show that.

On SQLite a migration that rebuilds one of these tables drops its triggers: such a
migration must call install() again (`audit verify` reports missing triggers).
install() may run again at any time: it replaces what is there.
"""

import json
from contextlib import contextmanager

from django.db import connection, transaction

TABLES = ("audit_event", "audit_eventpatient", "audit_chainanchor")
PERMIT_TABLE = "audit_permit"

# On PostgreSQL the permit counts only for the tables' owner (the role that ran the
# migrations), or inside a SECURITY DEFINER function it owns (audit_expire): the
# application's role, even if granted DELETE and the permit table, is refused.
POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE')
        AND current_user = (SELECT pg_get_userbyid(c.relowner) FROM pg_class AS c
                            WHERE c.oid = TG_RELID) THEN
        IF EXISTS (SELECT 1 FROM audit_permit) THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def _postgres_install(table: str) -> list[str]:
    return [
        f"CREATE OR REPLACE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()",
        f"CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()",
    ]


def _sqlite_install(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table} BEGIN "
        f"SELECT RAISE(ABORT, 'audit trail is append-only: UPDATE on {table} refused'); END",
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table} "  # noqa: S608
        f"WHEN NOT EXISTS (SELECT 1 FROM {PERMIT_TABLE}) BEGIN "
        f"SELECT RAISE(ABORT, 'audit trail is append-only: DELETE on {table} refused'); END",
    ]


def install_statements(vendor: str) -> list[str]:
    statements = [f"CREATE TABLE IF NOT EXISTS {PERMIT_TABLE} (reason varchar(64) NOT NULL)"]
    if vendor == "postgresql":
        statements.append(POSTGRES_FUNCTION)
        return statements + [s for t in TABLES for s in _postgres_install(t)]
    if vendor == "sqlite":
        return statements + [s for t in TABLES for s in _sqlite_install(t)]
    raise NotImplementedError(f"No append-only triggers for the {vendor} backend")


def uninstall_statements(vendor: str) -> list[str]:
    if vendor == "postgresql":
        drops = [
            f"DROP TRIGGER IF EXISTS {t}_{kind} ON {t}"
            for t in TABLES
            for kind in ("append_only", "no_truncate")
        ]
        return [*drops, "DROP FUNCTION IF EXISTS audit_refuse_change()"]
    return [
        f"DROP TRIGGER IF EXISTS {t}_{kind}" for t in TABLES for kind in ("no_update", "no_delete")
    ]


def _run(db_connection, statements: list[str]) -> None:
    # No parameters: the PL/pgSQL body has % placeholders of its own.
    with db_connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def install(schema_editor) -> None:
    _run(schema_editor.connection, install_statements(schema_editor.connection.vendor))


def uninstall(schema_editor) -> None:
    _run(schema_editor.connection, uninstall_statements(schema_editor.connection.vendor))


def installed_count() -> int:
    """How many of the append-only triggers the database has (2 per table when whole)."""
    names = [f"{t}_{kind}" for t in TABLES for kind in _kinds()]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgenabled <> 'D' "
                "AND tgname = ANY(%s)",
                [names],
            )
        else:
            cursor.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
                "AND name IN (SELECT value FROM json_each(%s))",
                [json.dumps(names)],
            )
        return cursor.fetchone()[0]


def expected_count() -> int:
    return 2 * len(TABLES)


def _kinds() -> tuple[str, str]:
    if connection.vendor == "postgresql":
        return ("append_only", "no_truncate")
    return ("no_update", "no_delete")


@contextmanager
def delete_permit(reason: str):
    """Let this transaction delete from the audit tables. Only for `audit expire` and
    for flushing the test database; the permit never outlives the transaction."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {PERMIT_TABLE} (reason) VALUES (%s)", [reason[:64]])  # noqa: S608
        yield
        cursor.execute(f"DELETE FROM {PERMIT_TABLE}")  # noqa: S608
