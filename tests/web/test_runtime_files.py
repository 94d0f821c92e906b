"""Every runtime file of a RIS instance lies under its RIS_DATA_DIR: two instances on
one host (each its own data directory) never share a pid file, gunicorn's control
socket or celery beat's schedule, and nothing is written to the user's home."""

import os
import stat
import subprocess
import sys

import pytest

from tests import test_runris
from tests.test_runris import ROOT, Service, free_port, service_env
from worklist.management.commands import runris


def command_paths(command: list[str]) -> dict[str, str]:
    options = ("--pid", "--control-socket", "--worker-tmp-dir")
    return {option: command[command.index(option) + 1] for option in options}


def test_two_data_directories_give_two_sets_of_runtime_files(settings, tmp_path):
    paths = []
    for name in ("a", "b"):
        settings.DATA_DIR = tmp_path / name
        command = runris.web_server_command(host="127.0.0.1", port=8000, workers=1, threads=1)
        found = command_paths(command)
        assert all(p.startswith(str(tmp_path / name) + os.sep) for p in found.values()), found
        paths.append(found)
    assert not set(paths[0].values()) & set(paths[1].values())


def test_the_control_socket_can_be_turned_off(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.RIS_HTTP_CONTROL_SOCKET = False
    command = runris.web_server_command(host="127.0.0.1", port=8000, workers=1, threads=1)
    assert "--no-control-socket" in command and "--control-socket" not in command


def test_celery_beat_keeps_its_schedule_in_the_data_directory(tmp_path):
    probe = "from ris.celery import app; print(app.conf.beat_schedule_filename)"
    found = []
    for name in ("a", "b"):
        env = service_env(tmp_path, RIS_DATA_DIR=str(tmp_path / name), PYTHONPATH=str(ROOT))
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-c", f"import django; django.setup(); {probe}"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        found.append(result.stdout.strip())
    assert found == [str(tmp_path / name / "celerybeat-schedule") for name in ("a", "b")]


@pytest.fixture
def two_instances(tmp_path, monkeypatch):
    """Two runris on one host, the second started once the first serves (both then
    run side by side); each migrates its own SQLite database first."""
    monkeypatch.setattr(test_runris, "STARTUP_SECONDS", 180)
    home = tmp_path / "home"
    home.mkdir()
    instances = []
    for name in ("one", "two"):
        folder = tmp_path / name
        folder.mkdir()
        port = free_port()
        env = service_env(
            folder,
            RIS_HTTP_PORT=str(port),
            RIS_HTTP_WORKERS="1",
            HOME=str(home),
            PYTHONPATH=str(ROOT),
        )
        env.pop("XDG_RUNTIME_DIR", None)
        service = Service(folder, "--no-dicom", env=env)
        instances.append((service, port, folder / "data"))
        service.wait_until_healthy(port)
    yield home, instances
    for service, _port, _data in instances:
        service.kill()


def test_two_instances_on_one_host_do_not_collide(two_instances):
    home, instances = two_instances
    pids = set()
    for _service, _port, data in instances:
        control = data / "run" / "gunicorn.ctl"
        assert stat.S_ISSOCK(control.stat().st_mode), f"no control socket at {control}"
        pids.add((data / "run" / "gunicorn.pid").read_text().strip())
    assert len(pids) == 2
    assert list(home.iterdir()) == []  # no ~/.gunicorn
    for service, _port, _data in instances:
        assert service.terminate() == 0
