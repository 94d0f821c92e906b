"""Fixtures of the fault tests: one private PostgreSQL server for the session with a
migrated template database, a fresh copy of it per test, and the RIS processes."""

import json
import sys
import uuid
from datetime import date, timedelta

import pytest

from .rig import (
    SEED,
    PrivatePostgres,
    PrivateRedis,
    Process,
    answers,
    free_port,
    http,
    manage,
    service_env,
    wait_for,
)

TEMPLATE = "ris_faults_template"


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    server = PrivatePostgres()
    try:
        server.start()
        server.sql(f"CREATE DATABASE {TEMPLATE}")
        env = service_env(server.url(TEMPLATE), tmp_path_factory.mktemp("template-data"))
        manage(env, "migrate", "-v0")
        token = manage(env, "shell", "-c", SEED).strip().splitlines()[-1]
        server.template_token = token
        yield server
    finally:
        server.remove()


class Rig:
    """The RIS processes of one test on their own copy of the template database."""

    def __init__(self, server: PrivatePostgres, directory):
        self.server = server
        self.directory = directory
        self.database = f"ris_faults_{uuid.uuid4().hex[:10]}"
        server.sql(f"CREATE DATABASE {self.database} TEMPLATE {TEMPLATE}")
        self.token = server.template_token
        self.http_port = free_port()
        self.dicom_port = free_port()
        self.redis: PrivateRedis | None = None
        self.variables: dict[str, str] = {}
        self.started: list[Process] = []

    def with_redis(self) -> PrivateRedis:
        self.redis = PrivateRedis(self.directory)
        self.redis.start()
        return self.redis

    def env(self) -> dict:
        extra = {"CELERY_BROKER_URL": self.redis.url} if self.redis else {}
        return service_env(
            self.server.url(self.database),
            self.directory / "data",
            RIS_HTTP_PORT=str(self.http_port),
            RIS_DICOM_PORT=str(self.dicom_port),
            **extra,
            **self.variables,
        )

    def start(self, name: str, *args: str) -> Process:
        process = Process(name, [sys.executable, *args], self.env(), self.directory)
        self.started.append(process)
        return process

    def runris(self, *options: str) -> Process:
        process = self.start("runris", "manage.py", "runris", *options)
        wait_for(
            lambda: (
                http(self.http_port, "/healthz", timeout=5)[0] == 200
                and ("--no-dicom" in options or answers(self.dicom_port))
            ),
            90,
            lambda: process.output(),
        )
        return process

    def dicomserver(self, name: str = "dicomserver") -> Process:
        process = self.start(
            name, "manage.py", "dicomserver", "--host", "127.0.0.1",
            "--port", str(self.dicom_port),
        )  # fmt: skip
        wait_for(lambda: answers(self.dicom_port) or not process.running(), 60)
        assert process.running(), process.output()
        return process

    def worker(self, name: str = "worker", concurrency: int = 1) -> Process:
        return self.start(
            name, "-m", "celery", "-A", "ris", "worker", "--loglevel", "INFO",
            "--concurrency", str(concurrency), "--without-mingle", "--without-gossip",
            "-n", f"{name}-{uuid.uuid4().hex[:6]}@localhost",
        )  # fmt: skip

    def beat(self) -> Process:
        return self.start(
            "beat", "-m", "celery", "-A", "ris", "beat", "--loglevel", "INFO",
            "--schedule", str(self.directory / "beat-schedule"),
        )  # fmt: skip

    def sql(self, statement: str, params=()) -> list[tuple]:
        return self.server.sql(statement, self.database, params)

    def book(self, station: str, hour: int, minute: int = 0, patient_id: str = "") -> dict:
        """Book an exam through the REST API, tomorrow on `station`."""
        day = date.today() + timedelta(days=1)
        patient_id = patient_id or f"P{uuid.uuid4().hex[:8].upper()}"
        order = {
            "patient": {
                "patient_id": patient_id,
                "issuer_of_patient_id": "HOSP",
                "patient_name": "Vivaldi^Antonio",
                "patient_birth_date": "1978-03-04",
                "patient_sex": "M",
            },
            "requested_procedure_description": "CT head without contrast",
            "scheduled_procedure_steps": [
                {
                    "scheduled_station_ae_title": station,
                    "modality": "CT",
                    "scheduled_procedure_step_start_datetime": (
                        f"{day.isoformat()}T{hour:02d}:{minute:02d}:00+00:00"
                    ),
                    "scheduled_procedure_step_duration_minutes": 10,
                }
            ],
        }
        status, body = http(
            self.http_port, "/api/orders/", token=self.token, body=json.dumps(order).encode()
        )
        assert status == 201, (status, body[:2000])
        return json.loads(body)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.output()}" for p in self.started)

    def close(self) -> None:
        for process in reversed(self.started):
            process.stop()
        if self.redis:
            self.redis.stop()
        if not self.server.is_running():
            self.server.start()
        self.server.sql(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")


@pytest.fixture
def rig(postgres_server, tmp_path):
    made = Rig(postgres_server, tmp_path)
    yield made
    made.close()
