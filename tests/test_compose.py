"""docker-compose.yml and the Dockerfile name commands, options and settings that exist.

No Docker runs here, so each command is parsed the way its own program would parse
it: a typo in a command, an option or an environment variable fails this test
rather than a deployment.
"""

import ast
import json
import re
import shlex
import subprocess
import sys
from ipaddress import ip_address
from pathlib import Path

import click
import pytest
import yaml
from celery.app.utils import find_app
from celery.bin.base import CLIContext
from celery.bin.celery import celery
from celery.worker.control import Panel
from django.core.management import get_commands, load_command_class
from django.core.management.base import CommandError
from django.urls import Resolver404, resolve
from pynetdicom.apps.echoscu import echoscu

import ris.celery

ROOT = Path(__file__).resolve().parent.parent
SERVICES = {"postgres", "redis", "web", "worker", "beat", "dicom", "hl7"}
OURS = {"web", "worker", "beat", "dicom", "hl7"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def settings_read() -> set[str]:
    """The environment variables ris/settings.py reads: env_str("NAME", ...) and the like."""
    tree = ast.parse((ROOT / "ris" / "settings.py").read_text())
    readers = {"env_str", "env_bool", "env_int", "env_list", "get"}
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", getattr(node.func, "attr", None)) in readers
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
        and node.args[0].value.isupper()
    }


def argv(command) -> list[str]:
    """A compose command or healthcheck test as the argument list it runs."""
    if isinstance(command, str):
        return shlex.split(command)
    if command[0] == "CMD":
        return list(command[1:])
    if command[0] == "CMD-SHELL":
        # `$$` is compose's escape for a `$` left to the shell.
        return shlex.split(command[1].replace("$$", "$"))
    return list(command)


def check_manage_py(args: list[str]) -> None:
    assert args, "manage.py needs a command"
    name, options = args[0], args[1:]
    commands = get_commands()
    assert name in commands, f"no management command {name!r}"
    parser = load_command_class(commands[name], name).create_parser("manage.py", name)
    parser.parse_args(options)  # CommandError on an unknown option or a bad value


def check_celery(args: list[str]) -> None:
    assert args[:2] == ["-A", "ris"], f"celery must be given the app: -A ris, not {args[:2]}"
    app = find_app(args[1])
    assert app is ris.celery.app
    name, options = args[2], args[3:]
    assert name in celery.commands, f"no celery subcommand {name!r}"
    parent = click.Context(celery, info_name="celery", obj=CLIContext(app, True, None, True))
    context = celery.commands[name].make_context(name, options, parent=parent)
    if name in {"inspect", "control"}:
        action = context.params["command"]
        assert action in Panel.meta and Panel.meta[action].type == name, (
            f"no `celery {name}` command {action!r}"
        )


def check_echoscu(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pynetdicom", "echoscu", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    echoscu._setup_argparser(args)  # SystemExit on an unknown option


def check_python_c(code: str, data_dir: str = "/data") -> None:
    """A probe of the web server (the URL it fetches is one ris.urls serves) or of a
    file a service keeps in the data volume (beat's schedule)."""
    compile(code, "<healthcheck>", "exec")
    urls = re.findall(r"http://[^/'\"]+(/[^'\"]*)", code)
    files = re.findall(r"'(/[^']+)'", code)
    assert urls or files, f"no URL or file in {code!r}"
    for path in urls:
        resolve(path)  # Resolver404 when no view answers
    for path in files:
        assert path.startswith(f"{data_dir}/"), f"{path} is not in the data volume"


def check_entry_point(args: list[str]) -> None:
    """`args` runs our code through an entry point that exists, with valid options."""
    if args[:2] == ["python", "manage.py"]:
        check_manage_py(args[2:])
    elif args[:1] == ["celery"]:
        check_celery(args[1:])
    elif args[:4] == ["python", "-m", "pynetdicom", "echoscu"]:
        check_echoscu(args[4:])
    elif args[:2] == ["python", "-c"]:
        check_python_c(args[2])
    else:
        raise AssertionError(f"not a known entry point of the RIS: {args}")


INVALID = (AssertionError, KeyError, CommandError, click.ClickException, SystemExit, Resolver404)


def test_all_services_are_defined(compose):
    assert set(compose["services"]) == SERVICES


def test_every_service_has_a_healthcheck(compose):
    for name, service in compose["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_postgres_keeps_its_data_in_a_named_volume(compose):
    volumes = compose["services"]["postgres"].get("volumes", [])
    named = [v.split(":")[0] for v in volumes if v.endswith(":/var/lib/postgresql/data")]
    assert named, "PostgreSQL data is not on a volume"
    assert named[0] in (compose.get("volumes") or {}), f"volume {named[0]} is not declared"


def test_ris_data_directory_is_a_named_volume(compose):
    for name in OURS:
        service = compose["services"][name]
        data_dir = service["environment"]["RIS_DATA_DIR"]
        volumes = service.get("volumes", [])
        named = [v.split(":")[0] for v in volumes if v.endswith(f":{data_dir}")]
        assert named, f"{name}: {data_dir} is not on a volume"
        assert named[0] in (compose.get("volumes") or {}), f"volume {named[0]} is not declared"


@pytest.mark.parametrize("service", sorted(OURS))
def test_service_command_is_a_real_entry_point(compose, service):
    check_entry_point(argv(compose["services"][service]["command"]))


@pytest.mark.parametrize("service", sorted(OURS))
def test_healthcheck_is_a_real_entry_point(compose, service):
    check_entry_point(argv(compose["services"][service]["healthcheck"]["test"]))


def test_healthchecks_probe_the_ports_the_services_publish(compose):
    web, dicom = compose["services"]["web"], compose["services"]["dicom"]
    assert ":8000/healthz" in " ".join(argv(web["healthcheck"]["test"]))
    assert web["ports"] == ["8000:8000"]
    assert argv(dicom["healthcheck"]["test"])[-2:] == ["127.0.0.1", "11112"]
    assert dicom["ports"] == ["11112:11112"]


def test_the_ris_is_configured_only_with_variables_the_settings_read(compose):
    known = settings_read()
    assert {"SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "RIS_DATA_DIR"} <= known
    for name in OURS:
        environment = compose["services"][name]["environment"]
        assert set(environment) <= known, f"{name}: {set(environment) - known}"
        assert environment["DATABASE_URL"] == "postgres://ris:ris@postgres:5432/ris"
        assert environment["CELERY_BROKER_URL"] == "redis://redis:6379/0"
        assert environment["SECRET_KEY"].startswith("${SECRET_KEY:?")


def test_services_start_in_order(compose):
    services = compose["services"]
    assert services["web"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    for name in ("worker", "beat", "dicom"):
        assert services[name]["depends_on"] == {"web": {"condition": "service_healthy"}}


def test_beat_keeps_its_schedule_where_its_healthcheck_looks(compose):
    beat = compose["services"]["beat"]
    args = argv(beat["command"])
    schedule = args[args.index("--schedule") + 1]
    assert schedule.startswith(beat["environment"]["RIS_DATA_DIR"] + "/")
    assert f"'{schedule}*'" in argv(beat["healthcheck"]["test"])[-1]


def test_the_dicom_listener_runs_in_its_own_container(compose):
    commands = {name: argv(compose["services"][name]["command"]) for name in OURS}
    assert commands["dicom"][:3] == ["python", "manage.py", "dicomserver"]
    assert "--no-dicom" in commands["web"]
    environment = compose["services"]["dicom"]["environment"]
    assert environment["RIS_DICOM_PROCESSES"] == "${RIS_DICOM_PROCESSES:-}"
    assert environment["DATABASE_URL"] == compose["services"]["web"]["environment"]["DATABASE_URL"]


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_dockerfile_runs_the_whole_service_by_default():
    instructions = dockerfile_instructions()
    cmd = [value for op, value in instructions if op == "CMD"][-1]
    args = json.loads(cmd)  # the exec form is a JSON list
    assert args[:3] == ["python", "manage.py", "runris"]
    check_entry_point(args)
    healthcheck = [value for op, value in instructions if op == "HEALTHCHECK"][-1]
    check_entry_point(json.loads(healthcheck.split(" CMD ", 1)[1]))


def test_dockerfile_listens_on_all_addresses_as_a_non_root_user():
    instructions = dockerfile_instructions()
    env = dict(
        pair.split("=", 1) for op, value in instructions if op == "ENV" for pair in value.split()
    )
    ours = {name for name in env if not name.startswith(("PYTHON", "PIP_"))}
    assert ours <= settings_read(), ours - settings_read()
    assert ip_address(env["RIS_HTTP_HOST"]).is_unspecified
    assert ip_address(env["RIS_DICOM_HOST"]).is_unspecified
    users = [value for op, value in instructions if op == "USER"]
    assert users and users[-1] not in {"root", "0"}
    assert ("EXPOSE", "8000 11112") in instructions


@pytest.mark.parametrize(
    "command",
    [
        "python manage.py runrsi --no-dicom",
        "python manage.py runris --no-dicmo",
        "python manage.py dicomserver --prot 11112",
        "python manage.py dicomserver --port eleven",
        "celery -A ris wroker --loglevel INFO",
        "celery -A ris worker --loglevle INFO",
        "celery -A rsi worker",
        "celery -A ris inspect pnig",
        "celery -A ris beat --schedul /data/celerybeat-schedule",
        "python -c \"import os; os.path.getmtime('/tmp/celerybeat-schedule')\"",
        "python -m pynetdicom echoscu --called-ea RIS 127.0.0.1 11112",
        "python -m pynetdicom echoscuu 127.0.0.1 11112",
        "python -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health')\"",
        "python manage.py",
    ],
)
def test_a_typo_in_a_command_is_caught(command):
    with pytest.raises(INVALID):
        check_entry_point(shlex.split(command))
