"""Character sets of worklist responses (PS3.3 C.12.1.1.2, PS3.5 6.1).

Queries are decoded by pydicom in whatever Specific Character Set (0008,0005) they
carry, ISO 2022 code extensions included. Responses are encoded in UTF-8
(ISO_IR 192) unless a known modality is configured with another set, for devices
that cannot read UTF-8. Text that does not fit that set is replaced, character by
character, in one documented way:

1. a letter that has an unaccented form in the set is written without its accent
   ("é" → "e" in ASCII), and a few letters without a decomposition are spelled out
   ("ß" → "ss", "Ł" → "L", "Æ" → "AE");
2. anything else becomes "?".

Before that, text that does not fit is brought to its Unicode compatibility form
(NFKC), so half-width katakana reach a JIS X 0208 set as full-width ones and
full-width Latin letters an ASCII one as plain letters.

So a Latin-1 modality shows "Dvořák" as "Dvorak", an ASCII one "Müller" as "Muller",
and a Latin-1 one a Japanese ideographic name group as "??".
"""

import unicodedata
from functools import lru_cache

from pydicom.charset import _encode_string_impl, convert_encodings, python_encoding

from worklist.matching import strip_accents

UTF_8 = "ISO_IR 192"
DEFAULT_REPERTOIRE = "ISO_IR 6"
REPLACEMENT = "?"

# Letters that Unicode does not decompose into a base letter and a mark.
SPELLED_OUT = {
    "ß": "ss",
    "ẞ": "SS",
    "Æ": "AE",
    "æ": "ae",
    "Œ": "OE",
    "œ": "oe",
    "Ø": "O",
    "ø": "o",
    "Ł": "L",
    "ł": "l",
    "Đ": "D",
    "đ": "d",
    "Ð": "D",
    "ð": "d",
    "Þ": "TH",
    "þ": "th",
    "ı": "i",
    "Ħ": "H",
    "ħ": "h",
}


def terms(character_set: str) -> list[str]:
    """'ISO 2022 IR 6\\ISO 2022 IR 87' -> ['ISO 2022 IR 6', 'ISO 2022 IR 87']."""
    return [term.strip() for term in character_set.split("\\")] or [DEFAULT_REPERTOIRE]


def specific_character_set(character_set: str) -> str | list[str] | None:
    """The value of (0008,0005) in a response: none for the default repertoire."""
    values = terms(character_set)
    if values == [DEFAULT_REPERTOIRE] or values == [""]:
        return None
    return values[0] if len(values) == 1 else values


@lru_cache(maxsize=64)
def _python_encodings(character_set: str) -> tuple[str, ...]:
    # pydicom reads the default repertoire (and ISO 2022 IR 6) leniently as Latin-1;
    # what may be written there is ASCII.
    encodings = convert_encodings(terms(character_set))
    return tuple("ascii" if e == "iso8859" else e for e in encodings)


@lru_cache(maxsize=16384)
def _encodable(character: str, character_set: str) -> bool:
    if character_set == UTF_8:
        return True
    for encoding in _python_encodings(character_set):
        try:
            _encode_string_impl(character, encoding)
        except (UnicodeError, ValueError, LookupError):
            continue
        return True
    return False


@lru_cache(maxsize=16384)
def _replacement(character: str, character_set: str) -> str:
    candidate = SPELLED_OUT.get(character)
    if candidate is None:
        candidate = strip_accents(character)
    if (
        candidate
        and candidate != character
        and all(_encodable(c, character_set) for c in candidate)
    ):
        return candidate
    return REPLACEMENT


def fit(text: str, character_set: str) -> str:
    """`text` with every character `character_set` cannot encode replaced (see the
    module docstring). Unicode sets (ISO_IR 192, GB18030) keep everything."""
    if character_set == UTF_8 or text.isascii():
        return text
    if not all(_encodable(c, character_set) for c in text):
        # compatibility forms first: half-width katakana with their voicing marks,
        # full-width Latin letters
        text = unicodedata.normalize("NFKC", text)
    return "".join(
        c if _encodable(c, character_set) else _replacement(c, character_set) for c in text
    )


def is_supported(character_set: str) -> bool:
    """Whether pydicom knows every term of a Specific Character Set value."""
    return all(term in python_encoding for term in terms(character_set) if term)
