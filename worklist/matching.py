"""Text matching rules shared by the scheduler's patient search, the REST filters and
the Modality Worklist: accent and case folding, DICOM wild cards (`*` any run, `?` one
character, PS3.4 C.2.2.2.4) and the letters a typed letter stands for.

Accents are matched one way: a letter typed without an accent finds the letter with
any accent (`MULLER` finds Müller), a letter typed with one means it (`Mü*` finds
Müller, not Murphy). Case never counts in names.

Plain Python, no Django and no DICOM: the selectors, the DICOM query translator and
the benchmarks use it alike.
"""

import re
import unicodedata
from collections.abc import Callable, Iterable
from functools import lru_cache

# --- folding ---------------------------------------------------------------------------


def strip_accents(text: str) -> str:
    """`text` in its compatibility decomposition without combining marks: "Dvořák"
    → "Dvorak", full-width letters plain. Letters Unicode does not decompose (ø, ł,
    ß) stay as they are."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold(text: str) -> str:
    """Accents stripped, upper case: the form in which names are compared."""
    return strip_accents(text).upper()


def has_accent(character: str) -> bool:
    """Whether a character carries a combining mark (é, ü, ř); compatibility forms
    (full-width letters, ligatures) do not count as accents."""
    return any(unicodedata.combining(c) for c in unicodedata.normalize("NFD", character))


# --- wild cards -----------------------------------------------------------------------


def regex_literal(character: str) -> str:
    """A character as a literal in both Python's and PostgreSQL's regular expressions:
    ASCII punctuation is escaped with a backslash, letters and digits are themselves."""
    if character.isascii() and not character.isalnum():
        return "\\" + character
    return character


def literal_regex(text: str) -> str:
    """`text` as a regular expression matching itself only (wild cards included)."""
    return "".join(regex_literal(c) for c in text)


def has_wildcard(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern


def is_universal(pattern: str) -> bool:
    """Empty, or `*` alone: matches everything, empty values included."""
    return pattern == "" or set(pattern) == {"*"}


def literal_prefix(pattern: str) -> str:
    """What every match starts with: the pattern up to its first wild card."""
    return re.split(r"[*?]", pattern, maxsplit=1)[0]


def translate_wildcards(
    pattern: str,
    *,
    any_run: str = ".*",
    one: str = ".",
    literal: Callable[[str], str] = regex_literal,
) -> str:
    """A DICOM wild card pattern in another pattern language, character by character:
    `*` becomes `any_run`, `?` becomes `one`, anything else `literal(character)`.
    By default a regular expression (Python's and PostgreSQL's alike), unanchored."""
    return "".join(any_run if c == "*" else one if c == "?" else literal(c) for c in pattern)


def like_literal(character: str) -> str:
    """A character as a literal in SQL LIKE with ESCAPE '\\'."""
    return "\\" + character if character in "\\%_" else character


def like_pattern(pattern: str) -> str:
    """A DICOM wild card pattern as SQL LIKE (ESCAPE '\\'); SQL's own % and _ literal."""
    return translate_wildcards(pattern, any_run="%", one="_", literal=like_literal)


def glob_pattern(pattern: str) -> str:
    """A DICOM wild card pattern as SQLite GLOB, which shares * and ?; [ is escaped."""
    return pattern.replace("[", "[[]")


def multi_value_regex(alternatives: Iterable[str]) -> str:
    """A regular expression finding one of these (regular expressions) as a whole value
    of a backslash-separated multi-valued string."""
    return "(^|\\\\)(" + "|".join(alternatives) + ")(\\\\|$)"


# --- letters --------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _letters_by_fold() -> dict[str, str]:
    """Letters of the Latin, Greek and Cyrillic blocks grouped by their folded form."""
    groups: dict[str, set[str]] = {}
    for block in ((0x41, 0x24F), (0x370, 0x4FF), (0x1E00, 0x1EFF)):
        for code in range(block[0], block[1] + 1):
            character = chr(code)
            if character.isalpha():
                groups.setdefault(fold(character), set()).add(character)
    return {key: "".join(sorted(chars)) for key, chars in groups.items()}


@lru_cache(maxsize=4096)
def letter_pattern(character: str, accent_insensitive: bool = True) -> str:
    """The regular expression a typed character stands for in a name: any case; and,
    when `accent_insensitive` and the character carries no accent, any accent."""
    if not character.isalpha():
        return regex_literal(character)
    variants = {character}
    for variant in (character.upper(), character.lower()):
        if len(variant) == 1 and fold(variant) == fold(character):
            variants.add(variant)
    if accent_insensitive and not has_accent(character):
        variants.update(_letters_by_fold().get(fold(character), ""))
    if len(variants) == 1:
        return character
    return "[" + "".join(sorted(variants)) + "]"


def name_pattern(text: str, *, any_run: str, one: str, accent_insensitive: bool = True) -> str:
    """A typed name or name pattern as a regular expression over stored names (see
    letter_pattern), unanchored."""
    return translate_wildcards(
        text,
        any_run=any_run,
        one=one,
        literal=lambda c: letter_pattern(c, accent_insensitive),
    )


def means_accents(text: str) -> bool:
    """Whether a typed text carries an accent, which it then means."""
    return any(has_accent(c) for c in text)
