import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from celery.app.trace import reset_worker_optimizations, setup_worker_optimizations
from celery.contrib.testing.worker import start_worker
from celery.result import AsyncResult
from kombu import Exchange, Queue

from ris.celery import app
from ris.tasks import health_check

ROOT = Path(__file__).resolve().parent.parent


def run_python(code: str, **env: str | None) -> subprocess.CompletedProcess:
    """A fresh interpreter, as a worker or `manage.py` starts: nothing imported by the
    test session leaks into what it sees."""
    environ = {k: v for k, v in os.environ.items() if k not in env}
    environ.update({k: v for k, v in env.items() if v is not None})
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def remove_queue(queue: Queue) -> None:
    """The queue and its bindings, which kombu otherwise leaves in Redis for good."""
    with app.connection_for_write() as connection:
        bound = queue(connection.default_channel)
        bound.declare()  # so that the channel knows the bindings it has to remove
        bound.delete()


@pytest.fixture
def in_process():
    """What an unset CELERY_BROKER_URL gives (see the test just below), forced here
    so that the in-process path is also exercised where CI configures Redis."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.mark.parametrize(
    ("broker", "eager"),
    [("", "True"), ("redis://127.0.0.1:6379/0", "False")],
)
def test_tasks_run_in_process_only_when_no_broker_is_configured(tmp_path, broker, eager):
    result = run_python(
        "from ris.celery import app; print(app.conf.task_always_eager)",
        DJANGO_SETTINGS_MODULE="ris.settings",
        SECRET_KEY="x",
        RIS_DATA_DIR=str(tmp_path),
        DATABASE_URL=None,
        CELERY_BROKER_URL=broker,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == eager


def test_worker_registers_health_check(tmp_path):
    """`ris` is not an installed app: the worker must still find ris/tasks.py."""
    result = run_python(
        "from ris.celery import app\n"
        "app.loader.import_default_modules()\n"
        "print('ris.health_check' in app.tasks)",
        DJANGO_SETTINGS_MODULE="ris.settings",
        SECRET_KEY="x",
        RIS_DATA_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


@pytest.mark.django_db
def test_health_check_without_broker_runs_in_process(in_process):
    assert health_check.delay().get(timeout=10) == {"database": "ok", "worker": "in-process"}


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_health_check_runs_on_a_worker_through_redis():
    assert app.conf.task_always_eager is False
    assert app.conf.broker_url.startswith(("redis://", "rediss://"))
    assert app.conf.result_backend.startswith(("redis://", "rediss://"))
    # A queue of its own: another worker on the same Redis cannot take the task.
    name = f"test-health-check-{uuid.uuid4().hex}"
    queue = Queue(name, Exchange(name), routing_key=name)
    hostname = f"test-worker-{uuid.uuid4().hex[:8]}@localhost"

    # What `celery worker` does before it starts (celery.apps.worker.Worker); without it
    # the embedded worker reports the machine's name instead of its own node name.
    setup_worker_optimizations(app, hostname)
    try:
        with start_worker(app, hostname=hostname, queues=[name], perform_ping_check=False):
            sent = health_check.apply_async(queue=queue)
            assert sent.get(timeout=30) == {"database": "ok", "worker": hostname}
    finally:
        reset_worker_optimizations(app)
        remove_queue(queue)

    stored = AsyncResult(sent.id, app=app)
    assert stored.backend.__class__.__name__ == "RedisBackend"
    assert stored.state == "SUCCESS"
    assert stored.result == {"database": "ok", "worker": hostname}
    stored.forget()
