"""HL7 v2 interface: inbound ORM^O01 new orders answered with an ACK, over one and
four MLLP connections, and the outbox draining status messages to a receiver; on
PostgreSQL.

The RIS side is `manage.py hl7server` (its own process, as in production) on the
database named in DATABASE_URL, which is dropped, created and migrated anew (`ris`
and `test_ris` are refused). Each sending connection is a worker process sending its
messages one after the other, each waiting for its ACK (HL7 original mode), and
timing send -> ACK. Every message registers a new patient and creates an order
waiting to be scheduled (placer order number, catalogue lookup, identifiers, the
access-audit event), logged with its ACK.

The floor, in the same run: the same clients against python-hl7's own asyncio MLLP
server (tests/hl7/peer.py) answering each message with an ACK and no database.

The outbox: N status messages pending for one destination, drained by
hl7.outbound.drain (one connection, one transaction per message) to python-hl7's
server as the HIS.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ris_hl7_bench \\
        .venv/bin/python bench/hl7_bench.py --messages 1000
"""

import argparse
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
PEER = ROOT / "tests" / "hl7" / "peer.py"
REFUSED_DATABASES = {"ris", "test_ris", "postgres", "template0", "template1"}
SB, EB = b"\x0b", b"\x1c\x0d"


def orm(n: int, run: str) -> bytes:
    placer = f"{run}-{n:07d}"
    return "\r".join(
        [
            f"MSH|^~\\&|HIS|HOSP|RIS|RAD|20261201093000||ORM^O01|{placer}|P|2.3.1||||||"
            "UNICODE UTF-8",
            f"PID|1||B{run}{n:07d}^^^HOSP^MR||Müller^Anna^{n}||19610615|F",
            "PV1||O|WARD7^^^HOSP|||||1234^REFERRER^ROBERT",
            f"ORC|NW|{placer}^HIS||||||^^^^^R|||||5678^ORDERER^OLGA",
            f"OBR|1|{placer}^HIS||CTHEAD^CT head^LOCAL||||||||||||5678^ORDERER^OLGA"
            "|||||||||||^^^^^R||||^Headache",
        ]
    ).encode("utf-8")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def sender(args) -> list[float]:
    """One connection: send each message, wait for its ACK; latencies in seconds."""
    port, first, count, run = args
    latencies = []
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        for n in range(first, first + count):
            data = SB + orm(n, run) + EB
            started = time.perf_counter()
            sock.sendall(data)
            answer = b""
            while not answer.endswith(EB):
                chunk = sock.recv(65536)
                if not chunk:
                    raise SystemExit("connection closed")
                answer += chunk
            latencies.append(time.perf_counter() - started)
            if b"MSA|AA|" not in answer:
                raise SystemExit(f"not accepted: {answer!r}")
    return latencies


def load(port: int, connections: int, messages: int, run: str) -> dict:
    per = messages // connections
    jobs = [(port, i * per, per, run) for i in range(connections)]
    started = time.perf_counter()
    with multiprocessing.Pool(connections) as pool:
        latencies = [lat for result in pool.map(sender, jobs) for lat in result]
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "rate": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p95": latencies[int(len(latencies) * 0.95) - 1] * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def peer_env() -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def start_peer(port: int, log: Path) -> subprocess.Popen:
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, str(PEER), "his", str(port), str(log)],
        stdout=subprocess.PIPE,
        text=True,
        env=peer_env(),
        cwd="/",
    )
    assert process.stdout.readline().strip() == "ready"
    return process


def recreate_database(url: str) -> None:
    name = urlparse(url).path.lstrip("/")
    if name in REFUSED_DATABASES:
        raise SystemExit(f"refusing to drop database {name!r}")
    admin = url.rsplit("/", 1)[0] + "/postgres"
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def service_env() -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="ris.settings",
        SECRET_KEY=env.get("SECRET_KEY", "hl7-bench-secret"),
        RIS_AUDIT_KEY=env.get("RIS_AUDIT_KEY", "hl7-bench-audit-key-0123456789abcdef"),
        RIS_DATA_DIR=tempfile.mkdtemp(prefix="ris-hl7-bench-"),
        RIS_HL7_STRICT_SENDERS="1",
        RIS_LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    return env


def django_setup(env: dict) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def prepare(env: dict) -> None:
    from django.core.management import call_command

    from hl7v2.models import Sender
    from worklist.models import Procedure

    call_command("migrate", interactive=False, verbosity=0)
    Sender.objects.create(sending_application="HIS", sending_facility="HOSP")
    Procedure.objects.create(
        code_value="CTHEAD",
        coding_scheme_designator="LOCAL",
        code_meaning="CT head",
        modality="CT",
    )


def outbox(messages: int, tmp: Path) -> float:
    """Pending status messages for one destination drained to python-hl7's server."""
    from django.conf import settings

    from audit import context
    from hl7v2 import outbound
    from hl7v2.models import Direction, Message, Status
    from worklist.models import Order

    port = free_port()
    his = start_peer(port, tmp / "his.txt")
    key = f"HIS^HOSP@127.0.0.1:{port}"
    settings.RIS_HL7_DESTINATIONS = key
    destination = outbound.destinations()[key]
    try:
        with context.system("hl7_bench"):
            orders = list(Order.objects.select_related("patient")[:messages])
            rows = [
                Message(
                    direction=Direction.OUT,
                    status=Status.PENDING,
                    control_id=f"OUT{i}",
                    peer=key,
                    order=order,
                    message_type="ORM^O01",
                    raw=outbound.status_message(order, destination, "SC", "SC", f"OUT{i}"),
                )
                for i, order in enumerate(orders)
            ]
            Message.objects.bulk_create(rows)
            started = time.perf_counter()
            result = outbound.drain(key)
            elapsed = time.perf_counter() - started
        assert result.delivered == len(rows), result
        return len(rows) / elapsed
    finally:
        his.terminate()
        his.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    options = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("set DATABASE_URL=postgres://.../ris_hl7_bench")
    recreate_database(url)
    env = service_env()
    django_setup(env)
    prepare(env)
    tmp = Path(tempfile.mkdtemp(prefix="hl7-bench-"))

    floor_port = free_port()
    floor = start_peer(floor_port, tmp / "floor.txt")
    port = free_port()
    ris = subprocess.Popen(  # noqa: S603
        [sys.executable, "manage.py", "hl7server", "--port", str(port)], cwd=ROOT, env=env
    )
    try:
        wait_for_port(port)
        print(
            f"{'server':<28}{'conns':>6}{'msg/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}",
            flush=True,
        )
        for connections in (1, 4):
            for name, target in (
                ("python-hl7 server (floor)", floor_port),
                ("RIS hl7server", port),
            ):
                run = f"R{connections}{'F' if target == floor_port else 'S'}{int(time.time())}"
                row = load(target, connections, options.messages, run)
                print(
                    f"{name:<28}{connections:>6}{row['rate']:>9.1f}{row['p50']:>9.1f}"
                    f"{row['p95']:>9.1f}{row['p99']:>9.1f}",
                    flush=True,
                )
    finally:
        ris.terminate()
        ris.wait()
        floor.terminate()
        floor.wait()
    rate = outbox(options.messages, tmp)
    print(f"outbox drain: {rate:.1f} msg/s ({options.messages} ORM^O01 to python-hl7's server)")


if __name__ == "__main__":
    main()
