"""HL7 v2 messages as bytes on the wire and as values: the character set of MSH-18,
parsing (python-hl7), reading fields with their escapes decoded, and building ACKs.

A field is read by segment, field, component (1-based, as HL7 numbers them): the
library reads the separators from MSH (its parse plan); the message is split here
into segments and fields, and a field read is split into repetitions, components
and subcomponents only then, with the message's own encoding characters (the
library's full parse split every field down to subcomponents, most never read: about
a tenth of a new order's Python time). The value is unescaped: \\F\\ \\S\\ \\T\\
\\R\\ \\E\\ by the library, \\Xhh..\\ as bytes in the message's character set (the
library would read them as Latin-1).
"""

import re
from dataclasses import dataclass
from datetime import datetime

from hl7.parser import create_parse_plan
from hl7.util import unescape as library_unescape

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"

# MSH-18 values (HL7 table 0211) accepted, and the Python codec of each. An empty
# MSH-18 is the default, ASCII; UTF-8 is read then too (a superset, and what most
# senders mean).
CHARSETS = {
    "": "utf-8",
    "ASCII": "ascii",
    "8859/1": "latin-1",
    "UNICODE UTF-8": "utf-8",
}

HEX_ESCAPE = re.compile(r"\\X([0-9A-Fa-f]*)\\")


class MessageError(Exception):
    """What is wrong with a message, as the ACK says it: AE (an error in a field) or
    AR (a message we do not accept), the HL7 error code (table 0357) and where."""

    def __init__(
        self,
        text: str,
        *,
        ack_code: str = "AE",
        error_code: str = "207",
        segment: str = "",
        field: int | None = None,
        component: int | None = None,
    ):
        super().__init__(text)
        self.text = text
        self.ack_code = ack_code
        self.error_code = error_code
        self.segment = segment
        self.field = field
        self.component = component

    @property
    def location(self) -> str:
        if not self.segment:
            return ""
        where = self.segment + (f"-{self.field}" if self.field else "")
        return where + (f".{self.component}" if self.component else "")


ERROR_NAMES = {
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "202": "Unsupported processing id",
    "203": "Unsupported version id",
    "204": "Unknown key identifier",
    "205": "Duplicate key identifier",
    "206": "Application record locked",
    "207": "Application internal error",
}


def msh_fields(raw: bytes) -> list[str]:
    """The fields of the MSH segment read from the bytes, before the character set is
    known (MSH holds ASCII): index n is MSH-n ([0] is "MSH", [1] the separator)."""
    if not raw.startswith(b"MSH") or len(raw) < 8:
        raise MessageError(
            "The message does not begin with an MSH segment.",
            ack_code="AR",
            error_code="100",
            segment="MSH",
        )
    first = re.split(rb"[\r\n]", raw, maxsplit=1)[0]
    separator = first[3:4]
    parts = first.split(separator)
    return ["MSH", separator.decode("ascii", "replace")] + [
        part.decode("ascii", "replace") for part in parts[1:]
    ]


def charset_of(raw: bytes) -> str:
    fields = msh_fields(raw)
    declared = fields[18].split("^")[0].strip() if len(fields) > 18 else ""
    if declared not in CHARSETS:
        raise MessageError(
            f"Character set {declared!r} is not supported (ASCII, 8859/1, UNICODE UTF-8).",
            error_code="103",
            segment="MSH",
            field=18,
        )
    return declared


@dataclass
class Parsed:
    """A message split into segments, each a list of its fields' text as sent: index n
    is SEG-n ([0] the segment ID; for MSH, [1] is the field separator, as MSH-1)."""

    plan: object  # the library's parse plan: separators and escape character
    charset: str
    text: str = ""

    @property
    def codec(self) -> str:
        return CHARSETS[self.charset]

    def __post_init__(self):
        field_separator = self.plan.separators[1]
        self._by_id = {}
        for line in self.text.strip().split("\r"):
            if not line:
                raise ValueError("an empty segment")  # as the library's parse refused it
            fields = line.split(field_separator)
            if fields[0] == "MSH":
                fields.insert(1, field_separator)
            self._by_id.setdefault(fields[0], []).append(fields)
        msh = self._by_id["MSH"][0]
        msh2 = msh[2] if len(msh) > 2 else ""
        component, repetition, escape, sub = (msh2 + "^~\\&"[len(msh2) :])[:4]
        # Field, component, repetition, escape, subcomponent.
        self.separators = (field_separator, component, repetition, escape, sub)

    def segments(self, segment_id: str) -> list:
        return self._by_id.get(segment_id, [])

    def has(self, segment_id: str) -> bool:
        return bool(self.segments(segment_id))

    def raw_field(self, segment, field: int) -> str:
        """A field's text as sent (separators and escapes in it), '' when absent."""
        return segment[field] if field < len(segment) else ""

    def repetitions(self, segment, field: int) -> list[str]:
        _, _, repetition, _, _ = self.separators
        text = self.raw_field(segment, field)
        return text.split(repetition) if text else []

    def component(self, text: str, component: int = 1, sub: int = 1) -> str:
        _, comp, _, _, subsep = self.separators
        parts = text.split(comp)
        if component > len(parts):
            return ""
        subs = parts[component - 1].split(subsep)
        return self.unescape(subs[sub - 1]) if sub <= len(subs) else ""

    def value(self, segment_id: str, field: int, component: int = 1, sub: int = 1, nth: int = 0):
        """The unescaped value of SEG-field.component.sub (first repetition)."""
        found = self.segments(segment_id)
        if nth >= len(found):
            return ""
        reps = self.repetitions(found[nth], field)
        return self.component(reps[0], component, sub) if reps else ""

    def unescape(self, text: str) -> str:
        if self.separators[3] not in text:
            return text
        pieces, last = [], 0
        for match in HEX_ESCAPE.finditer(text):
            pieces.append(library_unescape(self.plan, text[last : match.start()]))
            try:
                pieces.append(bytes.fromhex(match.group(1)).decode(self.codec))
            except ValueError as exc:
                raise MessageError(f"Bad hexadecimal escape {match.group(0)!r}.") from exc
            last = match.end()
        pieces.append(library_unescape(self.plan, text[last:]))
        return "".join(pieces)


def decode(raw: bytes) -> Parsed:
    """Bytes of one message (without the MLLP frame) -> parsed, or MessageError."""
    charset = charset_of(raw)
    try:
        text = raw.decode(CHARSETS[charset])
    except UnicodeDecodeError as exc:
        raise MessageError(
            f"The message is not valid {charset or 'ASCII/UTF-8'} "
            f"(byte {exc.start}): check MSH-18.",
            error_code="103",
            segment="MSH",
            field=18,
        ) from exc
    text = text.replace("\r\n", "\r").replace("\n", "\r").strip("\r")
    try:
        return Parsed(plan=create_parse_plan(text), charset=charset, text=text)
    except Exception as exc:  # the library raises several kinds on broken text
        raise MessageError(
            f"The message cannot be parsed: {exc}", ack_code="AR", error_code="100", segment="MSH"
        ) from exc


def escape(text: str, separators: str = "|^~\\&") -> str:
    field, component, repetition, esc, sub = separators
    text = text.replace(esc, f"{esc}E{esc}")
    for char, code in ((field, "F"), (component, "S"), (repetition, "R"), (sub, "T")):
        text = text.replace(char, f"{esc}{code}{esc}")
    return text.replace("\r", " ").replace("\n", " ")


def now_ts() -> str:
    return datetime.now().strftime("%Y%m%d%H%M%S")


def build_ack(
    *,
    msh: list[str],
    ack_code: str,
    control_id: str,
    application: str,
    facility: str,
    error: MessageError | None = None,
    text: str = "",
) -> str:
    """An original-mode ACK to the message whose MSH fields are `msh` (from
    msh_fields): MSH, MSA (code, the message's control ID, text) and ERR when an error
    is named, in the sender's version (ERR-1 before 2.5, ERR-2..4 from 2.5)."""

    def get(n: int) -> str:
        return msh[n] if len(msh) > n else ""

    separators = (get(1) or "|") + (get(2) or "^~\\&")
    if len(separators) < 5:
        separators = "|^~\\&"
    f, c = separators[0], separators[1]
    trigger = get(9).split(c)[1] if c in get(9) else ""
    version = get(12).split(c)[0] or "2.5"
    header = f.join(
        [
            "MSH",
            separators[1:],
            escape(application, separators),
            escape(facility, separators),
            get(3),
            get(4),
            now_ts(),
            "",
            f"ACK{c}{trigger}{c}ACK" if trigger else "ACK",
            control_id,
            get(11) or "P",
            get(12) or "2.5",
            "",
            "",
            "",
            "",
            "",
            get(18),
        ]
    ).rstrip(f)
    message_text = escape((error.text if error else text)[:80], separators)
    segments = [header, f.join(["MSA", ack_code, get(10), message_text]).rstrip(f)]
    if error is not None:
        segments.append(_err_segment(error, version, separators))
    return "\r".join(segments) + "\r"


def _err_segment(error: MessageError, version: str, separators: str) -> str:
    f, c, _, _, s = separators[:5]
    name = ERROR_NAMES.get(error.error_code, "")
    where = [error.segment, "1" if error.segment else "", str(error.field or "")]
    if error.component:
        where.append(str(error.component))
    if _version_tuple(version) < (2, 5):
        # ERR-1 Error Code and Location (ELD): segment^sequence^field^code&text&table
        code = s.join([error.error_code, name, "HL70357"])
        return f.join(["ERR", c.join([*where[:3], code])])
    return f.join(
        [
            "ERR",
            "",
            c.join(where).rstrip(c),
            c.join([error.error_code, name, "HL70357"]),
            "E",
            "",
            "",
            "",
            escape(error.text[:250], separators),
        ]
    )


def _version_tuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.split(".")[:2])
    except ValueError:
        return (2, 5)


def frame(text_or_bytes, codec: str = "utf-8") -> bytes:
    data = text_or_bytes if isinstance(text_or_bytes, bytes) else text_or_bytes.encode(codec)
    return START_BLOCK + data + END_BLOCK
