"""CPU of a process tree, read from /proc: a benchmark's server and every process it
started that is still running. With RIS_DICOM_PROCESSES above 1 the DICOM listener
processes are the dicomserver's grandchildren (worklist/dicom/processes.py), and the
dicomserver's own process does no DICOM work."""

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
DEPTH = 4  # command, supervisor, listener processes: a shallow tree


def tree_cpu(pid: int) -> float:
    """user + system CPU seconds of `pid` and its running descendants (threads
    included)."""
    stats = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        stats[int(stat.parent.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    tree = {pid}
    for _ in range(DEPTH):
        tree |= {child for child, (parent, _) in stats.items() if parent in tree}
    return sum(stats[member][1] for member in tree if member in stats) / TICK
