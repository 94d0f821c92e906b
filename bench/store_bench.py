"""Storage SCP: 512×512 16-bit images per second from concurrent DCMTK storescu
senders, side by side with DCMTK storescp on the same files and senders, in one run.

Drops and creates the database named by --database-url (default
postgres://postgres@127.0.0.1:5432/ris_bench_store) and migrates it, writes
--senders × --images files (one study per sender, explicit VR little endian, 512 KiB
of pixel data each, made with pydicom), then runs, one after the other, each receiver
with all senders starting at once (storescu with its default settings, one
association per sender):

- `storescp` with its defaults (it writes every file to disk), then with
  TCP_NODELAY=1 in the environment of storescp and of every storescu (DCMTK reads it);
- the RIS (`manage.py dicomserver`, one process, headers recorded in PostgreSQL) with
  RIS_STORE_FILES off, then on (files written, fsynced and renamed), both with the
  senders' defaults, and again with TCP_NODELAY=1 on the senders.

The rate is images / wall time from the start signal to the last sender's exit; every
run checks each sender's exit status and, for the RIS, that the database holds one
instance per image. The RIS's studies are deleted between its runs (a second copy of
an instance would be a cheap no-op). Prints one line per run and the RIS's rates as
ratios to both storescp runs, with CPU per image over the sending (user + system, from
/proc): the listener process's, its PostgreSQL backends' (the sessions of the bench's
database) and the senders' (every storescu together). The machine's two cores carry
all three, so their sum bounds the rate. The database is dropped at the end unless
--keep-db.

    .venv/bin/python bench/store_bench.py --senders 4 --images 100
"""

import argparse
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.mpps_bench import (  # noqa: E402
    drop_database,
    manage,
    recreate_database,
    service_env,
)
from bench.proctree import tree_cpu  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/ris_bench_store"
TARGETS = {"files off": 150, "files kept": 100}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the receiver exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    sys.exit(f"nothing listens on {port}")


def make_files(directory: Path, senders: int, images: int) -> list[list[Path]]:
    from pydicom.uid import generate_uid

    from tests.studies.dicom_files import ROOT as UID_ROOT
    from tests.studies.dicom_files import StudySpec, instance

    pixels = bytes(range(256)) * (512 * 512 * 2 // 256)
    batches = []
    for sender in range(senders):
        spec = StudySpec(
            patient_id=f"BENCH{sender}",
            accession_number=f"B{sender:05d}",
            series=(images,),
            rows=8,
            columns=8,
            station_name=f"CT{sender + 1}",
        )
        folder = directory / f"sender{sender}"
        folder.mkdir(parents=True)
        paths = []
        for number in range(1, images + 1):
            ds = instance(spec, 0, number)
            ds.Rows, ds.Columns, ds.PixelData = 512, 512, pixels
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(
                prefix=UID_ROOT
            )
            path = folder / f"{number:05d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
        batches.append(paths)
    return batches


def send_all(port: int, batches: list[list[Path]], nodelay: bool) -> float:
    env = dict(os.environ)
    env.pop("TCP_NODELAY", None)
    if nodelay:
        env["TCP_NODELAY"] = "1"
    senders_before = children_cpu()
    started = time.monotonic()
    senders = [
        subprocess.Popen(
            [
                "storescu",
                "-aet",
                f"CT{n + 1}",
                "-aec",
                "RIS",
                "127.0.0.1",
                str(port),
                *map(str, paths),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for n, paths in enumerate(batches)
    ]
    failures = []
    for sender in senders:
        _, err = sender.communicate(timeout=1800)
        if sender.returncode != 0 or b"Store Failed" in err:
            failures.append(err.decode(errors="replace")[-500:])
    elapsed = time.monotonic() - started
    CPU_MS["senders"] = 1000 * (children_cpu() - senders_before) / sum(map(len, batches))
    if failures:
        sys.exit("a sender failed:\n" + "\n".join(failures))
    return elapsed


def run_storescp(port: int, batches, work: Path, nodelay: bool) -> float:
    out = work / ("storescp-nodelay" if nodelay else "storescp")
    out.mkdir()
    env = dict(os.environ)
    env.pop("TCP_NODELAY", None)
    if nodelay:
        env["TCP_NODELAY"] = "1"
    receiver = subprocess.Popen(
        ["storescp", "-aet", "RIS", "-od", str(out), str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, receiver)
        return send_all(port, batches, nodelay)
    finally:
        receiver.terminate()
        receiver.wait(timeout=30)
        shutil.rmtree(out, ignore_errors=True)


def run_ris(url: str, port: int, batches, work: Path, *, files: bool, nodelay: bool) -> float:
    env = service_env(
        url,
        work,
        RIS_DICOM_STRICT_AE="0",
        RIS_STORE_FILES="1" if files else "0",
        RIS_RECONCILE_QUIET_SECONDS="3600",
    )
    log = open(work / "dicomserver.log", "ab")  # noqa: SIM115 - closed below
    receiver = subprocess.Popen(
        [sys.executable, "manage.py", "dicomserver", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, receiver)
        cpu_before = process_cpu(receiver.pid)
        database_before = backends_cpu(url)
        elapsed = send_all(port, batches, nodelay)
        images = sum(len(b) for b in batches)
        CPU_MS["listener"] = 1000 * (process_cpu(receiver.pid) - cpu_before) / images
        CPU_MS["PostgreSQL"] = 1000 * (cpu_spent(backends_cpu(url), database_before)) / images
    finally:
        receiver.terminate()
        receiver.wait(timeout=30)
        log.close()
    check_and_clear(url, sum(len(b) for b in batches))
    shutil.rmtree(work / "data" / "studies", ignore_errors=True)
    return elapsed


# "listener", "PostgreSQL", "senders" -> CPU ms per image in the last run
CPU_MS: dict[str, float] = {}


def children_cpu() -> float:
    """CPU seconds of this process's waited-for children (the senders, once done)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def backends_cpu(url: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving the bench's database
    (the server is local: its processes' /proc), other than this query's own."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        pids = conn.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    spent = {}
    for (pid,) in pids:
        try:
            spent[pid] = process_cpu(pid)
        except (OSError, IndexError):
            continue
    return spent


def cpu_spent(after: dict[int, float], before: dict[int, float]) -> float:
    """What the backends spent between two readings; a backend started meanwhile
    counts from its start."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process, its threads and the processes it
    started (the listener processes of a dicomserver), from /proc."""
    return tree_cpu(pid)


def check_and_clear(url: str, expected: int) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        held = conn.execute("SELECT count(*) FROM worklist_instance").fetchone()[0]
        if held != expected:
            sys.exit(f"the RIS recorded {held} instances of {expected}")
        conn.execute(
            "TRUNCATE worklist_studydecision, worklist_studydiscrepancy, worklist_instance,"
            " worklist_series, worklist_study CASCADE"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--images", type=int, default=100, help="per sender")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    url = args.database_url
    total = args.senders * args.images
    work = Path(tempfile.mkdtemp(prefix="ris-store-bench-"))
    try:
        recreate_database(url)
        manage(service_env(url, work), "migrate", "-v0")
        batches = make_files(work / "files", args.senders, args.images)
        print(f"{total} images of 512x512x16 bit from {args.senders} storescu senders")
        rates = {}
        runs = [
            ("storescp defaults", lambda p: run_storescp(p, batches, work, False)),
            ("storescp TCP_NODELAY=1 both ends", lambda p: run_storescp(p, batches, work, True)),
            ("RIS files off", lambda p: run_ris(url, p, batches, work, files=False, nodelay=False)),
            ("RIS files kept", lambda p: run_ris(url, p, batches, work, files=True, nodelay=False)),
            (
                "RIS files off, senders TCP_NODELAY=1",
                lambda p: run_ris(url, p, batches, work, files=False, nodelay=True),
            ),
            (
                "RIS files kept, senders TCP_NODELAY=1",
                lambda p: run_ris(url, p, batches, work, files=True, nodelay=True),
            ),
        ]
        print(f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
        for name, run in runs:
            CPU_MS.clear()
            elapsed = run(free_port())
            rates[name] = total / elapsed
            cpu = ", ".join(f"{who} {ms:.1f}" for who, ms in CPU_MS.items())
            print(
                f"{name:42s} {rates[name]:8.1f} images/s  ({elapsed:.2f} s); "
                f"CPU ms an image: {cpu}",
                flush=True,
            )
        print(f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
        base, fast = rates["storescp defaults"], rates["storescp TCP_NODELAY=1 both ends"]
        for name, rate in rates.items():
            if name.startswith("RIS"):
                target = TARGETS["files kept" if "kept" in name else "files off"]
                print(
                    f"{name:42s} ratio {rate / base:5.2f} to storescp defaults, "
                    f"{rate / fast:5.2f} to storescp TCP_NODELAY; target {target}/s "
                    f"{'met' if rate >= target else 'NOT met'}"
                )
    finally:
        if not args.keep_db:
            drop_database(url)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
