"""RIS_AUDIT_KEY is required like SECRET_KEY: start-up fails without it unless DEBUG."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def check(tmp_path, **variables):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "DEBUG"} and not k.startswith("RIS_")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="ris.settings",
        SECRET_KEY="audit-key-test-secret",
        RIS_DATA_DIR=str(tmp_path),
        **variables,
    )
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_start_up_fails_without_the_audit_key(tmp_path):
    result = check(tmp_path)
    assert result.returncode != 0
    assert "RIS_AUDIT_KEY is not set" in result.stderr


def test_a_short_audit_key_is_refused(tmp_path):
    result = check(tmp_path, RIS_AUDIT_KEY="short")
    assert result.returncode != 0
    assert "at least 32 characters" in result.stderr


def test_debug_runs_without_an_audit_key(tmp_path):
    assert check(tmp_path, DEBUG="1").returncode == 0


def test_a_long_audit_key_starts(tmp_path):
    result = check(tmp_path, RIS_AUDIT_KEY="k" * 32)
    assert result.returncode == 0, result.stderr
