"""Configuration from the environment: safe defaults, clear start-up errors."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def run_check(env_overrides, tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "DEBUG"}
    }
    env.update({"RIS_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "ris.settings"})
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_secret_key_outside_debug_stops_start_up(tmp_path):
    result = run_check({}, tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_debug_runs_without_a_secret_key(tmp_path):
    assert run_check({"DEBUG": "1"}, tmp_path).returncode == 0


def test_debug_is_off_unless_asked():
    from django.conf import settings

    assert "DEBUG" not in os.environ or settings.DEBUG
    assert settings.DEBUG is (os.environ.get("DEBUG", "").lower() in {"1", "true", "yes", "on"})


def test_non_integer_port_is_a_clear_error(tmp_path):
    result = run_check({"DEBUG": "1", "RIS_HTTP_PORT": "eighty"}, tmp_path)
    assert result.returncode != 0
    assert "RIS_HTTP_PORT must be an integer" in result.stderr


@pytest.mark.django_db
def test_embedded_sqlite_uses_wal_and_a_busy_timeout():
    if connection.vendor != "sqlite":
        pytest.skip("the embedded default is SQLite")
    from ris.settings import database_settings

    config = database_settings()
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]
    assert config["OPTIONS"]["timeout"] >= 5
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_embedded_database_file_is_created_in_wal_mode(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env.update(
        {"RIS_DATA_DIR": str(tmp_path), "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "ris.settings"}
    )
    code = (
        "import django; django.setup(); from django.db import connection; "
        "c = connection.cursor(); c.execute('PRAGMA journal_mode'); print(c.fetchone()[0])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "wal", result.stderr
    assert (tmp_path / "ris.sqlite3").exists()


def test_database_url_selects_postgresql(monkeypatch):
    from ris.settings import database_settings

    monkeypatch.setenv("DATABASE_URL", "postgres://ris:secret@db.example:5433/ris")
    config = database_settings()
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["PORT"], config["NAME"]) == ("db.example", 5433, "ris")


def test_no_broker_means_tasks_run_in_process():
    from django.conf import settings

    assert settings.CELERY_TASK_ALWAYS_EAGER is (not os.environ.get("CELERY_BROKER_URL"))
