"""Signed checkpoints of the chain, kept outside the database.

The keyed chain shows any event that was changed without the key, but not the newest
events cut off the end, nor a rewrite by someone who holds the key and the database.
A checkpoint pins the chain's head as it was: every few minutes (the task
audit.checkpoint) the head's seq and hash, the time and the key ID are signed with
the audit key (HMAC-SHA256) and appended as one JSON line to the checkpoint file
(RIS_AUDIT_CHECKPOINT_FILE, default RIS_DATA_DIR/audit/checkpoints.log: opened
O_APPEND, fsynced), and sent to the syslog audit repository when one is configured.
`audit verify` reads the file: a checkpointed event must still carry the hash the
checkpoint names, and the chain must reach the newest checkpoint.

A checkpoint is published only after the events since the previous one verify, so a
tampered head is never signed; an unchanged head is not published again.
"""

import json
import logging
import os
import socket
import ssl
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from . import chain, conf, syslog
from .models import Event

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    head: str
    time: str
    key_id: str
    mac: str = ""

    def signed_text(self) -> str:
        return f"ris-audit-checkpoint|{self.seq}|{self.head}|{self.time}|{self.key_id}"

    def line(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def parse(cls, line: str) -> "Checkpoint":
        data = json.loads(line)
        return cls(
            seq=int(data["seq"]),
            head=str(data["head"]),
            time=str(data["time"]),
            key_id=str(data["key_id"]),
            mac=str(data["mac"]),
        )

    def signature_problem(self, keys: dict) -> str:
        key = keys.get(self.key_id)
        if key is None:
            return (
                f"is signed with key {self.key_id}, which is not configured "
                "(RIS_AUDIT_KEY, RIS_AUDIT_KEYS_RETIRED)"
            )
        if key.mac(self.signed_text()) != self.mac:
            return "has a signature that does not match: it was forged or altered"
        return ""


def sign(seq: int, head: str, moment: datetime | None = None) -> Checkpoint:
    key = conf.current_key()
    moment = (moment or timezone.now()).astimezone(UTC)
    unsigned = Checkpoint(
        seq=seq, head=head, time=moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), key_id=key.id
    )
    return Checkpoint(**{**asdict(unsigned), "mac": key.mac(unsigned.signed_text())})


def path() -> Path:
    chosen = conf.get("AUDIT_CHECKPOINT_FILE")
    return Path(chosen) if chosen else Path(settings.DATA_DIR) / "audit" / "checkpoints.log"


def append_line(target: Path, line: str) -> None:
    """One write of a whole line at the end (O_APPEND: never over what is there),
    flushed to the disk before returning; a new file's directory entry too."""
    created = not target.exists()
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(descriptor, (line + "\n").encode("ascii"))
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    if created:
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


@dataclass
class Loaded:
    """The checkpoint file as `audit verify` reads it."""

    path: Path
    exists: bool = False
    by_seq: dict[int, Checkpoint] = field(default_factory=dict)
    unreadable: int = 0
    problem: str = ""

    @property
    def newest(self) -> Checkpoint | None:
        return self.by_seq[max(self.by_seq)] if self.by_seq else None

    def summary(self) -> str:
        if self.problem:
            return f"checkpoint file {self.path} BROKEN: {self.problem}"
        if not self.exists:
            return f"no checkpoint file at {self.path} (a cut of the newest events is not checked)"
        text = f"{len(self.by_seq)} checkpoints"
        if self.newest:
            text += f", newest #{self.newest.seq} of {self.newest.time}"
        if self.unreadable:
            text += f", {self.unreadable} unreadable lines ignored"
        return text


def load(target: Path | None = None) -> Loaded:
    """Every checkpoint of the file, its signature checked. A line that is not a
    checkpoint at all (a write cut short by a crash) is counted and skipped; one that
    is but whose signature fails is a forgery, and so is a line that contradicts an
    earlier one for the same seq."""
    loaded = Loaded(path=target or path())
    try:
        lines = loaded.path.read_text(encoding="ascii", errors="replace").splitlines()
    except FileNotFoundError:
        return loaded
    except OSError as exc:
        loaded.exists, loaded.problem = True, f"cannot be read: {exc}"
        return loaded
    loaded.exists = True
    keys = conf.chain_keys()
    for number, line in enumerate(lines, start=1):
        try:
            checkpoint = Checkpoint.parse(line)
        except (ValueError, KeyError, TypeError):
            loaded.unreadable += 1
            continue
        problem = checkpoint.signature_problem(keys)
        earlier = loaded.by_seq.get(checkpoint.seq)
        if not problem and earlier is not None and earlier.head != checkpoint.head:
            problem = f"names another head for #{checkpoint.seq} than an earlier line"
        if problem:
            loaded.problem = f"line {number} (#{checkpoint.seq}) {problem}"
            return loaded
        loaded.by_seq[checkpoint.seq] = checkpoint
    return loaded


@dataclass
class Published:
    checkpoint: Checkpoint | None = None
    skipped: str = ""
    syslog_error: str = ""

    def as_dict(self) -> dict:
        return {
            "seq": self.checkpoint.seq if self.checkpoint else None,
            "head": self.checkpoint.head if self.checkpoint else "",
            "skipped": self.skipped,
            "syslog_error": self.syslog_error,
        }


def publish() -> Published:
    """Sign the head and append it to the file (and to syslog), if the chain grew
    and the events since the last checkpoint verify."""
    head = Event.objects.order_by("-seq").values_list("seq", "hash").first()
    if head is None:
        return Published(skipped="no events yet")
    loaded = load()
    if loaded.problem:
        logger.error("Audit checkpoint not published: %s", loaded.summary())
        return Published(skipped=loaded.summary())
    last = loaded.newest
    if last is not None and (last.seq, last.head) == head:
        return Published(skipped=f"head #{last.seq} already checkpointed")
    result = chain.verify(since=last)
    if not result.intact:
        logger.error("Audit checkpoint not published: hash chain %s", result.summary())
        return Published(skipped=f"hash chain {result.summary()}")
    checkpoint = sign(result.last_seq, result.head_hash)
    append_line(loaded.path, checkpoint.line())
    published = Published(checkpoint=checkpoint)
    if conf.get("AUDIT_SYSLOG_HOST"):
        try:
            syslog.send_checkpoint(checkpoint.line(), hostname=socket.getfqdn())
        except (OSError, ssl.SSLError) as exc:
            published.syslog_error = f"{type(exc).__name__}: {exc}"[:255]
            logger.warning("Audit checkpoint not sent to syslog: %s", published.syslog_error)
    return published
