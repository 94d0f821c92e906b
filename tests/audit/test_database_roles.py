"""The database roles of docs/operations.md on a real PostgreSQL: the SQL blocks of
that file run as written (with role names of this test run), migrations as the owner,
the RIS as the application's role. The application's role cannot delete audit rows,
the expiry runs only with the expiry role, and a dump restored into a fresh database
verifies against the checkpoint file."""

import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from tests.conftest import require_peer

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parent.parent.parent
OPERATIONS = ROOT / "docs" / "operations.md"
ROLES = ("owner", "app", "audit_expiry")
AUDIT_KEY = "database-roles-test-audit-key-0123456789"


def documented_sql(first_line: str) -> str:
    """The ```sql block of docs/operations.md that starts with `first_line`."""
    for block in re.findall(r"```sql\n(.*?)```", OPERATIONS.read_text(), re.DOTALL):
        if block.startswith(first_line):
            return block
    raise AssertionError(f"docs/operations.md has no SQL block starting {first_line!r}")


class Cluster:
    """Roles and databases of this test run on the server of DATABASE_URL."""

    def __init__(self, url: str, tmp: Path):
        self.server = url.rsplit("/", 1)[0]
        self.prefix = f"ris_roles_t{os.getpid()}"
        self.database = f"{self.prefix}_db"
        self.tmp = tmp
        self.databases = [self.database]

    def role(self, name: str) -> str:
        return f"{self.prefix}_{name}"

    def url(self, role: str | None, database: str | None = None) -> str:
        host = self.server.split("://", 1)[1].split("@")[-1]
        user = self.role(role) if role else "postgres"
        return f"postgresql://{user}@{host}/{database or self.database}"

    def localise(self, sql: str) -> str:
        for name in ROLES:
            sql = re.sub(rf"\bris_{name}\b", self.role(name), sql)
        return re.sub(r"DATABASE ris\b", f"DATABASE {self.database}", sql)

    def run_sql(self, sql: str, *, role: str | None = None, database: str | None = None):
        with psycopg.connect(self.url(role, database or "postgres"), autocommit=True) as conn:
            conn.execute(sql)

    def env(self, role: str, database: str | None = None, **extra) -> dict:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("RIS_", "CELERY_", "DATABASE_")) and k != "DEBUG"
        }
        env.update(
            DJANGO_SETTINGS_MODULE="ris.settings",
            SECRET_KEY="database-roles-test-secret",
            RIS_AUDIT_KEY=AUDIT_KEY,
            RIS_DATA_DIR=str(self.tmp / "data"),
            RIS_AUDIT_CHECKPOINT_FILE=str(self.tmp / "checkpoints.log"),
            DATABASE_URL=self.url(role, database),
            DATABASE_POOL_SIZE="0",
            PYTHONPATH=str(ROOT),
        )
        env.update(extra)
        return env

    def manage(self, role: str, *args, database: str | None = None, **extra):
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env(role, database, **extra),
            capture_output=True,
            text=True,
            timeout=300,
        )

    def drop(self):
        for database in self.databases:
            self.run_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        for name in ROLES:
            self.run_sql(f'DROP ROLE IF EXISTS "{self.role(name)}"')


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    url = os.environ["DATABASE_URL"]
    made = Cluster(url, tmp_path_factory.mktemp("roles"))
    made.drop()
    try:
        for statement in made.localise(documented_sql("-- 1.")).split(";"):
            if statement.strip():
                made.run_sql(statement)
        made.run_sql(made.localise(documented_sql("-- 2.")), database=made.database)
        migrated = made.manage("owner", "migrate", "-v", "0")
        assert migrated.returncode == 0, migrated.stderr
        made.run_sql(made.localise(documented_sql("-- 3.")), role="owner", database=made.database)
        record = made.manage(
            "app",
            "shell",
            "-c",
            "from audit import context, services\n"
            "from audit.codes import Action\n"
            "with context.system('roles test'):\n"
            "    for i in range(6):\n"
            "        services.record(Action.PATIENT_RECORD, patients=[(f'R{i}', 'H')])\n",
        )
        assert record.returncode == 0, record.stderr
        yield made
    finally:
        made.drop()


def as_role(cluster, role, sql, params=()):
    with psycopg.connect(cluster.url(role), autocommit=True) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


def head(cluster):
    return as_role(cluster, "app", "SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1")[0]


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM audit_event",
        "DELETE FROM audit_eventpatient",
        "UPDATE audit_event SET username = 'mallory'",
        "TRUNCATE audit_event, audit_eventpatient",
        "INSERT INTO audit_permit (reason) VALUES ('mine')",
        "INSERT INTO audit_chainanchor (created_at, expired_before, expired_through_seq, "
        "expired_through_hash, events_removed, patient_rows_removed, recorded_by_seq) "
        "VALUES (now(), now(), 100, '', 100, 0, 1)",
        "SELECT audit_expire(1, '', now(), 2)",
    ],
)
def test_the_application_role_cannot_remove_or_change_audit_rows(cluster, sql):
    before = as_role(cluster, "app", "SELECT count(*) FROM audit_event")
    with pytest.raises(errors.InsufficientPrivilege):
        as_role(cluster, "app", sql)
    assert as_role(cluster, "app", "SELECT count(*) FROM audit_event") == before


def test_even_granted_delete_and_the_permit_the_application_role_is_refused(cluster):
    """A careless grant (GRANT ALL) gives the role DELETE and the permit table; the
    triggers still refuse, the permit counting only for the tables' owner."""
    cluster.run_sql(
        f"GRANT ALL ON audit_event, audit_eventpatient, audit_permit TO {cluster.role('app')}",
        role="owner",
        database=cluster.database,
    )
    try:
        with psycopg.connect(cluster.url("app")) as conn:
            conn.execute("INSERT INTO audit_permit (reason) VALUES ('mine')")
            with pytest.raises(errors.InsufficientPrivilege, match="append-only"):
                conn.execute("DELETE FROM audit_event")
    finally:
        cluster.run_sql(
            cluster.localise(documented_sql("-- 3.")), role="owner", database=cluster.database
        )


def test_the_expiry_role_cannot_remove_recent_events_nor_delete_directly(cluster):
    seq, hash_ = head(cluster)
    with pytest.raises(errors.InsufficientPrivilege, match="last full month"):
        as_role(
            cluster, "audit_expiry", "SELECT audit_expire(%s, %s, now(), %s)", [seq, hash_, seq]
        )
    with pytest.raises(errors.InsufficientPrivilege):
        as_role(cluster, "audit_expiry", "DELETE FROM audit_event")


def test_the_expiry_runs_with_the_expiry_role_and_only_with_it(cluster):
    """The oldest events redated a year back (as a superuser, rechained with the
    key); the application's role alone cannot expire them, the expiry role can, and
    the trail verifies after it."""
    redated = cluster.manage(
        None,
        "shell",
        "-c",
        "from datetime import UTC, datetime\n"
        "from django.utils import timezone\n"
        "from tests.audit.conftest import rewrite_history\n"
        "now = timezone.now()\n"
        "rewrite_history(lambda seq: datetime(2025, 3, 1, tzinfo=UTC) if seq <= 3 else now)\n",
    )
    assert redated.returncode == 0, redated.stderr

    refused = cluster.manage("app", "audit", "expire", "--months", "1")
    assert refused.returncode != 0
    assert "permission denied for function audit_expire" in refused.stderr

    expired = cluster.manage(
        "app",
        "audit",
        "expire",
        "--months",
        "1",
        RIS_AUDIT_EXPIRY_DATABASE_URL=cluster.url("audit_expiry"),
    )
    assert expired.returncode == 0, expired.stderr
    assert "removed 3 events" in expired.stdout
    assert as_role(cluster, "app", "SELECT min(seq) FROM audit_event") == [(4,)]
    anchor = as_role(cluster, "app", "SELECT expired_through_seq FROM audit_chainanchor")
    assert anchor == [(3,)]

    verified = cluster.manage("app", "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "hash chain intact" in verified.stdout


def test_a_dump_restored_into_a_fresh_database_verifies(cluster):
    """docs/operations.md, "Backups and restore": checkpoint, pg_dump, restore,
    verify against the checkpoint file; then an old backup restored in place of a
    newer trail is found by the checkpoints made since."""
    pg_dump = require_peer("pg_dump", "postgresql-client")
    pg_restore = require_peer("pg_restore", "postgresql-client")
    checkpoint = cluster.manage("app", "audit", "checkpoint")
    assert checkpoint.returncode == 0, checkpoint.stderr
    dump = cluster.tmp / "ris.dump"
    subprocess.run(
        [pg_dump, "--format=custom", f"--file={dump}", cluster.url("owner")],
        check=True,
        timeout=120,
    )
    restored = f"{cluster.prefix}_restored"
    cluster.databases.append(restored)
    cluster.run_sql(f"CREATE DATABASE {restored} OWNER {cluster.role('owner')}")
    subprocess.run(
        [pg_restore, "--exit-on-error", f"--dbname={cluster.url('owner', restored)}", dump],
        check=True,
        timeout=120,
    )

    verified = cluster.manage("app", "audit", "verify", database=restored)

    assert verified.returncode == 0, verified.stderr
    assert "hash chain intact" in verified.stdout
    assert "checkpoints, newest" in verified.stdout

    # Life goes on in the real database (each verify is an event), checkpointed...
    for _ in range(3):
        assert cluster.manage("app", "audit", "verify").returncode == 0
    assert cluster.manage("app", "audit", "checkpoint").returncode == 0
    seq, _ = head(cluster)
    # ... then the old backup comes back in its place.
    stale = cluster.manage("app", "audit", "verify", database=restored)
    assert stale.returncode == 1
    assert "the newest events were cut off" in stale.stderr
    assert f"..#{seq}, covered by the checkpoint" in stale.stderr
