"""The project settings, for the test suite: the same environment variables apply
(DATABASE_URL, CELERY_BROKER_URL...), with a throwaway secret and data directory.

The data directory (SQLite file, file cache, static files) is a fresh temporary
directory for each run, removed when the run ends, so the suite writes nothing into
the checkout and two runs never share a cache. RIS_TEST_DATA_DIR names one to use
(and keep) instead. RIS_DATA_DIR from the environment is not used: it may be a real
installation's. Processes the tests start inherit the directory through the
environment.
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "test-suite-only-secret")
os.environ.setdefault("RIS_AUDIT_KEY", "test-suite-only-audit-key-0123456789abcdef")


def _test_data_dir() -> Path:
    chosen = os.environ.get("RIS_TEST_DATA_DIR")
    if chosen:
        return Path(chosen).resolve()
    made = Path(tempfile.mkdtemp(prefix="ris-test-data-"))
    atexit.register(shutil.rmtree, made, ignore_errors=True)
    # A process started by a test that loads these settings again uses the same one
    # (and leaves its removal to this process).
    os.environ["RIS_TEST_DATA_DIR"] = str(made)
    return made


os.environ["RIS_DATA_DIR"] = str(_test_data_dir())

from ris.settings import *  # noqa: E402,F403

STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
