"""The HL7 listener on a free port, a known sender, and python-hl7 (tests/hl7/peer.py,
its own process) as the hospital system sending to it. Messages are built in the
style of the IHE Radiology Technical Framework examples (RAD-1, RAD-2, RAD-12)."""

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PEER = Path(__file__).with_name("peer.py")


def peer_env() -> dict:
    """The peer's environment: nothing of this checkout on its PYTHONPATH, so it runs
    on the library alone, as an independent peer would."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def send_all(
    port: int, messages: list, encoding: str = "utf-8", timeout: float = 30
) -> list[bytes]:
    """Send messages (str or bytes) on one connection with python-hl7's MLLP client;
    the answers, each still framed (b"" when none came)."""
    data = [m if isinstance(m, bytes) else m.encode(encoding) for m in messages]
    done = subprocess.run(  # noqa: S603
        [sys.executable, str(PEER), "send", "127.0.0.1", str(port), str(timeout)],
        input=json.dumps([base64.b64encode(d).decode() for d in data]),
        capture_output=True,
        text=True,
        env=peer_env(),
        cwd="/",
        timeout=120,
        check=True,
    )
    return [base64.b64decode(a) for a in json.loads(done.stdout)]


def segments(answer: bytes, encoding: str = "utf-8") -> dict[str, list[str]]:
    """An answer's segments by ID, each split into its fields (index n is field n)."""
    text = answer.strip(b"\x0b\x1c\r").decode(encoding)
    found = {}
    for line in filter(None, text.split("\r")):
        fields = line.split("|")
        if fields[0] == "MSH":
            fields.insert(1, "|")
        found.setdefault(fields[0], []).append(fields)
    return found


def ack_code(answer: bytes) -> str:
    return segments(answer)["MSA"][0][1]


# --- messages --------------------------------------------------------------------------

_ids = iter(range(1, 1_000_000))


def segment(name: str, fields: dict[int, str]) -> str:
    last = max(fields)
    return "|".join([name, *(fields.get(n, "") for n in range(1, last + 1))])


def msh(
    message_type: str,
    control_id: str = "",
    *,
    version: str = "2.3.1",
    charset: str = "",
    sender: str = "HIS",
    facility: str = "HOSP",
    receiver: str = "RIS",
) -> str:
    control_id = control_id or f"MSG{next(_ids):06d}"
    return (
        f"MSH|^~\\&|{sender}|{facility}|{receiver}|RAD|20261201093000||{message_type}|"
        f"{control_id}|P|{version}||||||{charset}".rstrip("|")
    )


def pid(patient_id="PATID1234", name="JONES^WILLIAM^A^III", birth="19610615", sex="M") -> str:
    return segment(
        "PID",
        {
            1: "1",
            3: f"{patient_id}^^^HOSP^MR",
            5: name,
            7: birth,
            8: sex,
            11: "1200 N ELM STREET^^GREENSBORO^NC^27401-1020",
        },
    )


def adt(event: str, control_id: str = "", **patient) -> str:
    return "\r".join(
        [
            msh(f"ADT^{event}", control_id),
            f"EVN|{event}|20261201093000",
            pid(**patient),
            "PV1||O|RAD^^^HOSP",
        ]
    )


def a40(survivor: str, merged: str, control_id: str = "") -> str:
    return "\r".join(
        [
            msh("ADT^A40", control_id),
            "EVN|A40|20261201093000",
            pid(patient_id=survivor),
            f"MRG|{merged}^^^HOSP^MR",
        ]
    )


def orm(
    control: str = "NW",
    placer: str = "PLACER0001",
    *,
    code: str = "CTHEAD^CT head without contrast^LOCAL",
    priority: str = "R",
    control_id: str = "",
    patient: dict | None = None,
    charset: str = "",
    reason: str = "^Headache",
) -> str:
    return "\r".join(
        [
            msh("ORM^O01", control_id, charset=charset),
            pid(**(patient or {})),
            segment("PV1", {2: "O", 3: "WARD7^^^HOSP", 8: "1234^REFERRER^ROBERT"}),
            segment(
                "ORC",
                {
                    1: control,
                    2: f"{placer}^HIS",
                    5: "SC",
                    7: f"^^^^^{priority}",
                    12: "5678^ORDERER^OLGA",
                },
            ),
            segment(
                "OBR",
                {
                    1: "1",
                    2: f"{placer}^HIS",
                    4: code,
                    16: "5678^ORDERER^OLGA",
                    27: f"^^^^^{priority}",
                    31: reason,
                },
            ),
        ]
    )


def omi(placer: str = "PLACER0100", *, priority: str = "S", control_id: str = "") -> str:
    return "\r".join(
        [
            msh("OMI^O23", control_id, version="2.5.1"),
            pid(),
            segment("PV1", {2: "I", 3: "ICU^^^HOSP", 8: "1234^REFERRER^ROBERT"}),
            segment("ORC", {1: "NW", 2: f"{placer}^HIS", 12: "5678^ORDERER^OLGA"}),
            segment("TQ1", {1: "1", 9: priority}),
            segment(
                "OBR",
                {1: "1", 2: f"{placer}^HIS", 4: "CTHEAD^CT head^LOCAL", 31: "^Suspected bleed"},
            ),
            segment("IPC", {1: "ACC1", 2: "RP1", 3: "1.2.3.4", 4: "SPS1", 5: "CT"}),
        ]
    )


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def hl7_listener(transactional_db, settings):
    """The listener on a free port, strict about senders; HIS^HOSP is known."""
    from hl7v2 import listener
    from hl7v2.models import Sender

    settings.RIS_HL7_STRICT_SENDERS = True
    Sender.objects.create(sending_application="HIS", sending_facility="HOSP")
    server = listener.start(host="127.0.0.1", port=0)
    yield server
    listener.stop(server)


@pytest.fixture
def send(hl7_listener):
    port = hl7_listener.server_address[1]

    def send(*messages, encoding: str = "utf-8", timeout: float = 30) -> list[bytes]:
        return send_all(port, list(messages), encoding, timeout)

    return send


@pytest.fixture
def catalogue(transactional_db):
    from tests import factories

    return factories.procedure("CTHEAD", "CT head without contrast", "CT")
