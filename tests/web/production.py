"""The environment of a production deployment behind a TLS proxy, for tests that start
processes with the real settings module (not tests.settings)."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
HOST = "ris.example.org"


def production_env(data_dir, **variables) -> dict:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("RIS_", "DJANGO_"))
        and name not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="ris.settings",
        SECRET_KEY=secrets.token_urlsafe(50),
        RIS_AUDIT_KEY=secrets.token_urlsafe(32),
        RIS_DATA_DIR=str(data_dir),
        ALLOWED_HOSTS=HOST,
        CSRF_TRUSTED_ORIGINS=f"https://{HOST}",
        RIS_TLS_PROXY="1",
        PYTHONPATH=str(ROOT),
    )
    env.update(variables)
    return env


def manage(env, *args, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
