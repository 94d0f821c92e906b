"""The Application Level Confidentiality Profile as data: PS3.15 Table E.1-1 read from
table_e1_1.tsv, and the action it gives each attribute for the options chosen.

The table decides; nothing here names an attribute except the few whose presence in
the objects we write settles a compound action (X/Z, X/D, X/Z/D, Z/D, X/Z/U*), in
PRESENCE below.
"""

import csv
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path

from pydicom.datadict import tag_for_keyword

TABLE = Path(__file__).with_name("table_e1_1.tsv")

BASIC = "basic"


class Option(StrEnum):
    """The options of the Basic Profile a request may choose (their column in the table)."""

    RETAIN_LONGITUDINAL_MODIFIED_DATES = "rtn_long_modified_dates"
    CLEAN_DESCRIPTORS = "clean_descriptors"
    RETAIN_PATIENT_CHARACTERISTICS = "rtn_patient_characteristics"

    @property
    def label(self) -> str:
        return METHOD_CODES[self.value][1]


# De-identification Method codes (PS3.16 CID 7050, coding scheme DCM).
METHOD_CODES = {
    BASIC: ("113100", "Basic Application Confidentiality Profile"),
    Option.CLEAN_DESCRIPTORS.value: ("113105", "Clean Descriptors Option"),
    Option.RETAIN_LONGITUDINAL_MODIFIED_DATES.value: (
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    Option.RETAIN_PATIENT_CHARACTERISTICS.value: (
        "113108",
        "Retain Patient Characteristics Option",
    ),
}

# When two chosen options give an attribute different actions, the one disclosing less
# wins (the standard does not order them).
PROTECTIVENESS = ("X", "Z", "D", "U", "C", "K")

# Type of the attributes with a compound action in the objects written (PS3.3: the
# Patient, General Study, General Series, General Equipment, General Image, Contrast/
# Bolus, SOP Common and Multi-frame Functional Groups modules). 1: a value is required
# (D, or U for a sequence of references), 2: present, may be empty (Z); absent: type 3,
# removed (X). Content Date and Time are type 1 in the enhanced image IODs.
PRESENCE = {
    tag_for_keyword(keyword): kind
    for keyword, kind in {
        "PatientID": 2,
        "ContentDate": 1,
        "ContentTime": 1,
        "ContrastBolusAgent": 2,
    }.items()
}


# Attributes Table E.1-1 does not list that carry text typed at the site, and what is
# done to them here (by option, as in the table; C cleans as the table's C does). Code
# Meaning is meant to be a code's meaning, but a local code book can hold anything.
LOCAL_ADDITIONS = {
    tag_for_keyword("CodeMeaning"): {BASIC: "C"},
    tag_for_keyword("CommentsOnTheScheduledProcedureStep"): {
        BASIC: "X",
        Option.CLEAN_DESCRIPTORS.value: "C",
    },
}


@dataclass(frozen=True)
class Row:
    tag: str
    name: str
    actions: dict[str, str]

    def action(self, options: frozenset[str]) -> str:
        chosen = [self.actions[o] for o in options if self.actions.get(o)]
        if not chosen:
            return self.actions[BASIC]
        return min(chosen, key=lambda a: PROTECTIVENESS.index(a[0]))


@cache
def rows() -> tuple[Row, ...]:
    with TABLE.open(encoding="utf-8", newline="") as table:
        lines = (line for line in table if not line.startswith("#"))
        return tuple(
            Row(
                tag=record.pop("tag"),
                name=record.pop("name"),
                actions={k: v for k, v in record.items() if k != "std_comp_iod"},
            )
            for record in csv.DictReader(lines, delimiter="\t")
        )


def _mask(pattern: str) -> tuple[int, int]:
    """(mask, value) of a tag pattern such as (60xx,3000): the bits the x leave fixed."""
    digits = pattern.strip("()").replace(",", "")
    mask = int("".join("0" if d == "x" else "F" for d in digits), 16)
    value = int(digits.replace("x", "0"), 16)
    return mask, value


class Profile:
    """The actions of the table for one choice of options, looked up by tag."""

    def __init__(self, options=()):
        self.options = frozenset(Option(o) for o in options)
        chosen = frozenset(o.value for o in self.options)
        self.exact: dict[int, str] = {}
        self.masks: list[tuple[int, int, str]] = []
        self.private = "X"
        for row in rows():
            action = row.action(chosen)
            if row.tag == "private":
                self.private = action
            elif "x" in row.tag:
                self.masks.append((*_mask(row.tag), action))
            else:
                self.exact[int(row.tag.strip("()").replace(",", ""), 16)] = action
        for tag, actions in LOCAL_ADDITIONS.items():
            addition = Row(tag=f"{tag:08X}", name="", actions=actions)
            self.exact.setdefault(tag, addition.action(chosen))

    def action(self, tag: int) -> str | None:
        """The table's action for an attribute, None when the table does not list it."""
        found = self.exact.get(tag)
        if found is not None:
            return found
        if (tag >> 16) & 1:
            return self.private
        for mask, value, action in self.masks:
            if tag & mask == value:
                return action
        return None

    def has(self, option: Option) -> bool:
        return option in self.options

    def method_codes(self) -> list[tuple[str, str]]:
        """CID 7050 codes of what was applied, the Basic Profile first."""
        applied = [BASIC] + sorted(o.value for o in self.options)
        return [METHOD_CODES[name] for name in applied]


def resolve(action: str, tag: int) -> str:
    """A compound action made single for the attribute at hand (PS3.15 E.1: "X unless Z
    is required to maintain IOD conformance"...)."""
    if "/" not in action:
        return action
    kind = PRESENCE.get(tag, 3)
    choices = action.rstrip("*").split("/")
    if kind == 1:
        for strong in ("U", "D"):
            if strong in choices:
                return strong
    if kind <= 2 and "Z" in choices:
        return "Z"
    if kind <= 2 and "D" in choices:
        return "D"
    return choices[0]
