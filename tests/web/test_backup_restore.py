"""docs/operations.md, "Backups and restore", as an operator of the Docker Compose
deployment runs it (one database role): after audited activity (the demo department
loaded, a worklist of bookings read through the API), checkpoint, pg_dump, restore
into a fresh database, and `audit verify` passes there against the checkpoint file.
Databases of this test are named ris_web_backup_*."""

import os
import subprocess
import sys

import psycopg
import pytest

from tests.conftest import require_peer
from tests.web.production import ROOT

pytestmark = pytest.mark.postgres

SHELL_ACTIVITY = """
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from django.contrib.auth import get_user_model
user = get_user_model().objects.get(username="admin")
api = APIClient()
api.credentials(HTTP_AUTHORIZATION="Token " + Token.objects.get_or_create(user=user)[0].key)
assert api.get("/api/patients/").status_code == 200
assert api.get("/api/orders/").status_code == 200
"""


class Server:
    def __init__(self, url: str, tmp):
        self.base = url.rsplit("/", 1)[0]
        self.names = []
        self.tmp = tmp

    def url(self, database: str) -> str:
        return f"{self.base}/{database}"

    def create(self, database: str):
        self.names.append(database)
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{database}"')

    def drop_all(self):
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            for database in self.names:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    def manage(self, database: str, *args):
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("RIS_", "CELERY_", "DATABASE_", "DJANGO_")) and k != "DEBUG"
        }
        env.update(
            DJANGO_SETTINGS_MODULE="ris.settings",
            SECRET_KEY="backup-test-secret-not-for-production",
            RIS_AUDIT_KEY="backup-test-audit-key-0123456789abcdef",
            RIS_DATA_DIR=str(self.tmp / "data"),
            DATABASE_URL=self.url(database),
            DATABASE_POOL_SIZE="0",
            ALLOWED_HOSTS="testserver",
            PYTHONPATH=str(ROOT),
        )
        result = subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        return result


@pytest.fixture
def server(tmp_path):
    made = Server(os.environ["DATABASE_URL"], tmp_path)
    yield made
    made.drop_all()


def test_a_backup_restored_into_a_fresh_database_verifies(server, tmp_path):
    pg_dump = require_peer("pg_dump", "postgresql-client")
    pg_restore = require_peer("pg_restore", "postgresql-client")
    live = f"ris_web_backup_{os.getpid()}"
    restored = f"{live}_restored"
    server.create(live)
    for step in (
        ("migrate", "-v", "0"),
        ("loaddemo", "--patients", "8", "--days-before", "1", "--days-after", "1", "--fill", "0.1"),
        ("shell", "-c", SHELL_ACTIVITY),
        ("audit", "checkpoint"),
    ):
        done = server.manage(live, *step)
        assert done.returncode == 0, f"{step}: {done.stdout}{done.stderr}"
    checkpoints = tmp_path / "data" / "audit" / "checkpoints.log"
    assert checkpoints.read_text().strip()

    dump = tmp_path / "ris.dump"
    subprocess.run(  # noqa: S603
        [pg_dump, "--format=custom", f"--file={dump}", server.url(live)], check=True, timeout=120
    )
    server.create(restored)
    subprocess.run(  # noqa: S603
        [pg_restore, "--exit-on-error", f"--dbname={server.url(restored)}", str(dump)],
        check=True,
        timeout=120,
    )

    verified = server.manage(restored, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "hash chain intact" in verified.stdout
    assert "checkpoints, newest" in verified.stdout
    with psycopg.connect(server.url(restored)) as conn:
        patients = conn.execute("SELECT count(*) FROM worklist_patient").fetchone()[0]
    assert patients == 8
