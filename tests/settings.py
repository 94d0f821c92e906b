"""The project settings, for the test suite: the same environment variables apply
(DATABASE_URL, CELERY_BROKER_URL...), with a throwaway secret and data directory."""

import os
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "test-suite-only-secret")
os.environ.setdefault("RIS_DATA_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test"))

from ris.settings import *  # noqa: E402,F403

STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
