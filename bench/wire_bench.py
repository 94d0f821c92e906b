"""The listener's cost on the wire, against a bare pynetdicom SCP run in the same bench
run (issue 14): CPU a second of idle associations held open, and the time of an
association + C-ECHO + release, one after another.

Each server runs in its own process (its CPU read from /proc/<pid>/stat); the
clients are pynetdicom in this process.

    DJANGO_SETTINGS_MODULE=tests.settings python bench/wire_bench.py --idle 8 --echoes 50
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from pynetdicom import AE
from pynetdicom.sop_class import Verification

ROOT = Path(__file__).resolve().parent.parent

RIS = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
import django
django.setup()
from worklist.dicom import listener
server = listener.start(host="127.0.0.1", port=0, tls_port=0)
print(server.server_address[1], flush=True)
sys.stdin.read()
"""

BARE = """
import sys
from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification
ae = AE(ae_title="RIS")
ae.add_supported_context(Verification)
ae.maximum_associations = 64
server = ae.start_server(("127.0.0.1", 0), block=False)
print(server.server_address[1], flush=True)
sys.stdin.read()
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(code: str):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    return process, int(process.stdout.readline())


def client() -> AE:
    ae = AE(ae_title="BENCH")
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 60
    return ae


def measure(code: str, idle: int, echoes: int, seconds: float) -> dict:
    process, port = start(code)
    try:
        ae = client()
        took = []
        for _ in range(echoes):
            started = time.monotonic()
            assoc = ae.associate("127.0.0.1", port, ae_title="RIS")
            assert assoc.is_established
            assoc.send_c_echo()
            assoc.release()
            took.append(time.monotonic() - started)
        time.sleep(1)
        base_start = cpu_seconds(process.pid)
        time.sleep(seconds)
        base = (cpu_seconds(process.pid) - base_start) / seconds
        held = [ae.associate("127.0.0.1", port, ae_title="RIS") for _ in range(idle)]
        assert all(a.is_established for a in held)
        time.sleep(1)
        start_cpu = cpu_seconds(process.pid)
        time.sleep(seconds)
        with_idle = (cpu_seconds(process.pid) - start_cpu) / seconds
        for assoc in held:
            assoc.release()
        return {
            "echo_median_ms": 1000 * statistics.median(took),
            "echo_p95_ms": 1000 * sorted(took)[max(0, int(0.95 * len(took)) - 1)],
            "idle_ms_per_s_each": 1000 * (with_idle - base) / idle,
        }
    finally:
        process.stdin.close()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=8, help="idle associations held")
    parser.add_argument("--echoes", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0, help="CPU measured over")
    args = parser.parse_args()
    bare = measure(BARE, args.idle, args.echoes, args.seconds)
    ris = measure(RIS, args.idle, args.echoes, args.seconds)
    print(f"{'server':<18}{'echo median ms':>16}{'echo p95 ms':>13}{'idle CPU ms/s each':>20}")
    for name, figures in (("bare pynetdicom", bare), ("RIS listener", ris)):
        print(
            f"{name:<18}{figures['echo_median_ms']:>16.1f}{figures['echo_p95_ms']:>13.1f}"
            f"{figures['idle_ms_per_s_each']:>20.2f}"
        )
    print(
        f"ratio RIS/bare: echo median {ris['echo_median_ms'] / bare['echo_median_ms']:.2f}, "
        f"idle CPU {ris['idle_ms_per_s_each'] / max(bare['idle_ms_per_s_each'], 1e-9):.3f}"
    )


if __name__ == "__main__":
    main()
