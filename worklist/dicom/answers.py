"""Worklist items as they leave the listener: built once for a step's content and a
kind of request, encoded once per transfer syntax, then sent as those bytes.

An answer is a function of nothing but the step's Row (the values of
worklist_item.COLUMNS that this query's SQL statement read), the shape of the request
(which attributes, with which VR; the values of code sequence item keys, which choose
the codes answered), the caller's character set, the time zone with its offset now,
and the transfer syntax. The memo is keyed by all of them, the row's values included:
it can only return the answer to exactly what the query just read, so a change
committed before the query's statement began is in the answer, whatever wrote it
(a service, the admin, a queryset update, another process). There is nothing to
invalidate; contents no longer read fall out of the bounded memo.

Sending bytes: pynetdicom encodes each pending C-FIND identifier with
pynetdicom.service_class.encode. install() wraps that function so an EncodedIdentifier
is sent as its bytes and anything else is encoded as before; the guard test
(tests/dicom/test_mwl_answers.py) fails if a new pynetdicom stops calling it. Where it
cannot be installed, answers are built and encoded for every query, as they were.

The command set of each pending response (C-FIND-RSP: SOP class, message ID being
responded to, status FF00/FF01, a data set follows) is the same for every answer of a
query: install_commands() makes pynetdicom build and encode it once, with its own
code, and send those bytes for the following answers (KeptCommand). Anything else
(final, failure, cancel responses) is built as before.
"""

import logging
import threading
from collections import OrderedDict
from datetime import tzinfo
from io import BytesIO

from pydicom.dataset import Dataset
from pynetdicom import dimse_messages, dsutils, service_class
from pynetdicom.dimse_messages import C_FIND_RSP

from . import worklist_item
from .worklist_item import Row

logger = logging.getLogger(__name__)

# About 3 KB each (the row's values, the encoded item and its Dataset shell, measured
# with tracemalloc on the bench's schedule): at most about 25 MB per listener process,
# a week of forty rooms' steps asked with one kind of request.
MAX_ENTRIES = 8192

Syntax = tuple[bool, bool, bool]  # implicit VR, little endian, deflated


class EncodedIdentifier(Dataset):
    """A C-FIND response identifier already encoded in one transfer syntax. Shared by
    every association that sends it: nothing changes it once made."""

    def __init__(self, encoded: bytes, syntax: Syntax):
        super().__init__()
        self.encoded = encoded
        self.syntax = syntax

    def encoded_as(self, syntax: Syntax) -> bytes | None:
        # Built for the presentation context it is sent on; anything else is a bug,
        # which pynetdicom answers as "failed encoding" (C312) rather than send wrong bytes.
        return self.encoded if syntax == self.syntax else None


def install() -> bool:
    """Let pynetdicom send EncodedIdentifiers as their bytes; False when this version
    of pynetdicom does not encode C-FIND identifiers with service_class.encode."""
    current = getattr(service_class, "encode", None)
    if current is None or "encode" not in service_class.ServiceClass._c_find_scp.__code__.co_names:
        return False
    if getattr(current, "sends_encoded_identifiers", False):
        return True

    def encode(ds, is_implicit_vr, is_little_endian, deflated=False):
        if isinstance(ds, EncodedIdentifier):
            return ds.encoded_as((is_implicit_vr, is_little_endian, deflated))
        return current(ds, is_implicit_vr, is_little_endian, deflated)

    encode.sends_encoded_identifiers = True
    service_class.encode = encode
    return True


PRE_ENCODED = install()
if not PRE_ENCODED:
    logger.warning("pynetdicom does not encode C-FIND answers as expected: no answer memo")


class KeptCommand(Dataset):
    """A pending C-FIND-RSP command set, with the bytes pynetdicom encoded for it.
    Shared by every response with the same values: read (by pynetdicom's logging
    handlers), never changed."""

    def __init__(self, command_set: Dataset, encoded: bytes):
        super().__init__(command_set)
        self.encoded = encoded


PENDING = (0xFF00, 0xFF01)
# What pynetdicom copies from a C-FIND response primitive into its command set.
_RESPONSE_FIELDS = ("AffectedSOPClassUID", "MessageIDBeingRespondedTo", "Status")
_UNCACHED_FIELDS = ("OffendingElement", "ErrorComment")
MAX_COMMANDS = 1024


def install_commands() -> bool:
    """Let pynetdicom send a pending C-FIND response's command set from a KeptCommand;
    False when this version of pynetdicom does not build and encode them as expected."""
    encode_msg = dimse_messages.DIMSEMessage.encode_msg
    if "encode" not in encode_msg.__code__.co_names or not hasattr(
        C_FIND_RSP, "primitive_to_message"
    ):
        return False
    if getattr(C_FIND_RSP.primitive_to_message, "keeps_commands", False):
        return True
    original_encode = dimse_messages.encode
    build = dimse_messages.DIMSEMessage.primitive_to_message
    kept: dict[tuple, KeptCommand] = {}

    def encode(ds, is_implicit_vr, is_little_endian, deflated=False):
        if isinstance(ds, KeptCommand) and is_implicit_vr and is_little_endian and not deflated:
            return ds.encoded
        return original_encode(ds, is_implicit_vr, is_little_endian, deflated)

    def primitive_to_message(self, primitive):
        key = _command_key(primitive)
        if key is None:
            return build(self, primitive)
        command = kept.get(key)
        if command is None:
            build(self, primitive)
            encoded = original_encode(self.command_set, True, True)
            if encoded is None:
                return None
            command = KeptCommand(self.command_set, encoded)
            if len(kept) >= MAX_COMMANDS:
                kept.clear()
            kept[key] = command
        self.command_set = command
        self.data_set = primitive.Identifier
        self._data_set_path = None
        return None

    primitive_to_message.keeps_commands = True
    dimse_messages.encode = encode
    C_FIND_RSP.primitive_to_message = primitive_to_message
    _command_set_on_first_read()
    return True


# What DIMSEMessage.__init__ does, by the names it uses: the message's buffers and an
# empty command set, then one element per keyword of its type. When it does anything
# else, C-FIND responses keep pynetdicom's constructor.
_MESSAGE_INIT_NAMES = frozenset(
    {
        "context_id",
        "encoded_command_set",
        "BytesIO",
        "data_set",
        "command_set",
        "Dataset",
        "_data_set_path",
        "_data_set_file",
        "__class__",
        "__name__",
        "_COMMAND_SET_KEYWORDS",
        "replace",
        "setattr",
    }
)


class _CommandSetOnFirstRead:
    """C_FIND_RSP.command_set: the empty elements pynetdicom's constructor makes (about
    a tenth of the listener's time per answer, measured), made when something reads it
    before setting it. A pending response sent from a KeptCommand sets it whole and
    never pays for them; everything else reads what pynetdicom's constructor made."""

    def __get__(self, message, owner=None):
        if message is None:
            return self
        found = message.__dict__.get("command_set")
        if found is None:
            found = Dataset()
            for keyword in dimse_messages._COMMAND_SET_KEYWORDS["C-FIND-RSP"]:
                setattr(found, keyword, None)
            message.__dict__["command_set"] = found
        return found

    def __set__(self, message, value):
        message.__dict__["command_set"] = value


def _command_set_on_first_read() -> None:
    init = dimse_messages.DIMSEMessage.__init__
    if "__init__" in vars(C_FIND_RSP) or set(init.__code__.co_names) != _MESSAGE_INIT_NAMES:
        return

    def __init__(self):
        # DIMSEMessage.__init__ without the command set's elements (made on first read).
        self.context_id = None
        self.encoded_command_set = BytesIO()
        self.data_set = BytesIO()
        self._data_set_path = None
        self._data_set_file = None

    C_FIND_RSP.command_set = _CommandSetOnFirstRead()
    C_FIND_RSP.__init__ = __init__


def _command_key(primitive) -> tuple | None:
    """The values that make a pending response's command set, or None when it is not
    one kept (another status, no data set, an Error Comment or offending element)."""
    if primitive.MessageIDBeingRespondedTo is None or primitive.Status not in PENDING:
        return None
    if primitive.Identifier is None or getattr(primitive, "_dataset_path", None):
        return None
    if any(getattr(primitive, name, None) is not None for name in _UNCACHED_FIELDS):
        return None
    return tuple(str(getattr(primitive, name)) for name in _RESPONSE_FIELDS)


KEPT_COMMANDS = install_commands()
if not KEPT_COMMANDS:
    logger.warning("pynetdicom does not build C-FIND responses as expected: commands rebuilt")


class _Entry:
    __slots__ = ("identifiers", "values")

    def __init__(self, values: tuple):
        self.values = values
        self.identifiers: dict[Syntax, EncodedIdentifier] = {}


class Answers:
    """The memo: (step, request shape, character set, time zone, offset) → the row's
    values and the identifiers encoded for them, least recently used dropped first."""

    def __init__(self, max_entries: int = MAX_ENTRIES):
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def identifier(self, row: Row, request: "Request", syntax: Syntax) -> Dataset:
        """The answer for one step: from the memo when this request was answered for
        exactly these values before, built and encoded now otherwise."""
        if not PRE_ENCODED:
            return request.build(row)
        key = (row.values[0], request.key)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.values == row.values:
                found = entry.identifiers.get(syntax)
                if found is not None:
                    self._entries.move_to_end(key)
                    self.hits += 1
                    return found
            else:
                entry = None
            self.misses += 1
        encoded = dsutils.encode(request.build(row), *syntax)
        if encoded is None:  # pydicom could not write it: answered as before
            raise ValueError("cannot encode a worklist item")
        made = EncodedIdentifier(encoded, syntax)
        with self._lock:
            if entry is None:
                entry = _Entry(row.values)
                self._entries[key] = entry
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
            entry.identifiers[syntax] = made
        return made


ANSWERS = Answers()


class Request:
    """What of a C-FIND request and its caller shapes the answers."""

    def __init__(self, identifier: Dataset, *, tz: tzinfo, character_set: str, item_filters):
        self.identifier = identifier
        self.tz = tz
        self.character_set = character_set
        self.item_filters = item_filters
        self.key = (
            shape(identifier),
            character_set,
            str(tz),
            worklist_item.offset(tz),
        )

    def build(self, row: Row) -> Dataset:
        return worklist_item.build(
            row,
            self.identifier,
            tz=self.tz,
            character_set=self.character_set,
            item_filters=self.item_filters,
        )


def shape(request: Dataset, *, with_values: bool = False) -> tuple:
    """The attributes a request asks for, with their VR, recursively; inside code
    sequence items with their values too (they choose the codes answered)."""
    parts = []
    for element in request:
        if element.VR == "SQ":
            codes = worklist_item.is_code_sequence(element.tag)
            items = tuple(shape(item, with_values=codes) for item in element.value)
            parts.append((int(element.tag), "SQ", items))
        elif with_values:
            parts.append((int(element.tag), element.VR, str(element.value)))
        else:
            parts.append((int(element.tag), element.VR))
    return tuple(parts)
