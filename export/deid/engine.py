"""De-identification of one DICOM data set (PS3.15 Annex E, Basic Application Level
Confidentiality Profile and the options chosen): a pure function of the data set, the
profile (the table and the options), the subject (its pseudonym and date shift) and the
key that derives the new UIDs. No database, no files: the export builder, the worklist
and MPPS rows and the tests all call `deidentify`.

What the table leaves to the implementer, decided here:
- dummy values (D) are "ANONYMIZED", 0, 19000101... by VR; zero length (Z) is empty;
- new UIDs (U) are 2.25 UIDs derived from the old one by HMAC-SHA256 with the key, so
  the same UID gets the same replacement in every file and table made with that key;
- clean (C): dates move by the subject's shift in whole days (times of day are kept),
  text loses every value the profile removed from the same data set (names, IDs,
  accession numbers, dates...), date-like strings and runs of five or more digits;
  sequences are cleaned item by item;
- attributes the table does not list are kept, except dates and date-times (VR DA and
  DT): removed, or shifted with the Modified Dates option; private attributes go.
"""

import copy
import hashlib
import hmac
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from .profile import Option, Profile, resolve, rows

UID_ROOT = "2.25."
PATIENT_NAME = 0x00100010
PATIENT_ID = 0x00100020
TEXT_VRS = {"LO", "SH", "ST", "LT", "UT", "UC", "PN"}
IDENTIFYING_VRS = {"PN", "LO", "SH", "CS", "AE", "UI", "UR", "ST"}
# The descriptions Table E.1-1 lets the Clean Descriptors option keep: cleaned, not
# looked for in other texts (a procedure's description is no identifier).
DESCRIPTORS = {
    int(row.tag.strip("()").replace(",", ""), 16)
    for row in rows()
    if row.actions.get("clean_descriptors") and row.tag.startswith("(") and "x" not in row.tag
}
DUMMY = {
    "PN": "ANONYMIZED",
    "LO": "ANONYMIZED",
    "SH": "ANONYMIZED",
    "ST": "ANONYMIZED",
    "LT": "ANONYMIZED",
    "UT": "ANONYMIZED",
    "UC": "ANONYMIZED",
    "CS": "ANONYMIZED",
    "AE": "ANONYMIZED",
    "DA": "19000101",
    "TM": "000000",
    "DT": "19000101000000",
    "AS": "000D",
    "IS": "0",
    "DS": "0",
    "UR": "urn:anonymized",
}

# Images of these SOP classes usually carry burned-in text (ultrasound, secondary
# capture): without Burned In Annotation (0028,0301) = NO they are left out too.
BURNED_IN_BY_DEFAULT = {
    "1.2.840.10008.5.1.4.1.1.6.1": "Ultrasound Image",
    "1.2.840.10008.5.1.4.1.1.3.1": "Ultrasound Multi-frame Image",
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture Image",
    "1.2.840.10008.5.1.4.1.1.7.1": "Multi-frame Single Bit Secondary Capture Image",
    "1.2.840.10008.5.1.4.1.1.7.2": "Multi-frame Grayscale Byte Secondary Capture Image",
    "1.2.840.10008.5.1.4.1.1.7.3": "Multi-frame Grayscale Word Secondary Capture Image",
    "1.2.840.10008.5.1.4.1.1.7.4": "Multi-frame True Color Secondary Capture Image",
}

_DATE_LIKE = re.compile(
    r"(?<!\d)(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|(?:19|20)\d{6})(?!\d)"
)
_LONG_NUMBER = re.compile(r"\d{5,}")
_PN_PARTS = re.compile(r"[\^=\s,]+")


@dataclass(frozen=True)
class Subject:
    """The patient a data set is about, as the export presents them."""

    pseudonym: str
    date_shift_days: int = 0


@dataclass
class Result:
    """The de-identified data set, or None with the reason it was left out; `actions`
    counts the table's actions applied (X, Z, D, U, C, K)."""

    dataset: Dataset | None
    left_out: str = ""
    actions: Counter = field(default_factory=Counter)


def new_uid(key: bytes, uid: str) -> str:
    """The replacement of a UID: a UUID (version 8, RFC 9562) made of HMAC-SHA256(key,
    uid), written under the 2.25 root (PS3.5 B.2)."""
    digest = hmac.new(key, uid.strip().encode("ascii", "replace"), hashlib.sha256).digest()
    number = int.from_bytes(digest[:16], "big")
    number = (number & ~(0xF << 76)) | (0x8 << 76)
    number = (number & ~(0x3 << 62)) | (0x2 << 62)
    return UID_ROOT + str(number)


def shift_date(value: str, days: int) -> str:
    """A DA value moved by `days`; "" when it is not a full date (it cannot be moved
    without keeping part of the original)."""
    value = value.strip()
    if len(value) != 8 or not value.isdigit():
        return ""
    try:
        moved = date(int(value[0:4]), int(value[4:6]), int(value[6:8])) + timedelta(days=days)
    except (ValueError, OverflowError):
        return ""
    return f"{moved:%Y%m%d}"


def shift_datetime(value: str, days: int) -> str:
    """A DT value with its date part moved; the time and the offset are kept."""
    value = value.strip()
    moved = shift_date(value[:8], days) if len(value) >= 8 else ""
    return moved + value[8:] if moved else ""


def left_out_reason(dataset: Dataset) -> str:
    """Why an image must not leave at all, or ""."""
    burned_in = str(dataset.get("BurnedInAnnotation", "") or "").strip().upper()
    if burned_in == "YES":
        return "Burned In Annotation (0028,0301) is YES"
    sop_class = str(dataset.get("SOPClassUID", "") or "")
    if not burned_in and "PixelData" in dataset and sop_class in BURNED_IN_BY_DEFAULT:
        return (
            f"Burned In Annotation (0028,0301) not stated for a "
            f"{BURNED_IN_BY_DEFAULT[sop_class]}, which usually carries burned-in text"
        )
    return ""


def deidentify(
    dataset: Dataset,
    *,
    profile: Profile,
    subject: Subject,
    uid_key: bytes,
    in_place: bool = False,
) -> Result:
    """The data set de-identified by the profile, or left out (burned-in annotation).

    Patient's Name and Patient ID carry the subject's pseudonym (the Z of the table
    allows a dummy value); Patient Identity Removed, De-identification Method and its
    code sequence (CID 7050), and Longitudinal Temporal Information Modified say what
    was done (PS3.15 E.1.1, E.2, E.3.6). The data set given is left as it was unless
    `in_place` (the export builder passes one it read for this purpose).
    """
    reason = left_out_reason(dataset)
    if reason:
        return Result(None, reason)
    target = dataset if in_place else copy.deepcopy(dataset)
    run = _Run(profile, subject, uid_key, target)
    run.walk(target)
    _mark(target, profile, subject)
    if getattr(target, "file_meta", None) is not None:
        target.file_meta = _file_meta(target)
    return Result(target, "", run.actions)


class _Run:
    def __init__(self, profile: Profile, subject: Subject, uid_key: bytes, top: Dataset):
        self.profile = profile
        self.subject = subject
        self.uid_key = uid_key
        self.actions: Counter = Counter()
        self.shift_dates = profile.has(Option.RETAIN_LONGITUDINAL_MODIFIED_DATES)
        # Read before anything is removed: what a cleaned text must not repeat.
        self._identifiers = sorted(
            {v.lower() for v in _identifiers(top, profile)}, key=len, reverse=True
        )

    # --- the walk ---------------------------------------------------------------

    def walk(self, dataset: Dataset) -> None:
        for tag in list(dataset.keys()):
            tag = int(tag)
            element = dataset[tag]
            if tag & 0xFFFF == 0:
                del dataset[tag]  # group length: recomputed or absent
                continue
            action = self.action_for(tag, element.VR)
            if action is None:
                if element.VR == "SQ":
                    self.items(element)
                continue
            self.apply(dataset, tag, element, action)

    def action_for(self, tag: int, vr: str) -> str | None:
        action = self.profile.action(tag)
        if action is None and vr in ("DA", "DT"):
            return "C" if self.shift_dates else "X"
        return None if action is None else resolve(action, tag)

    def items(self, element) -> None:
        for item in element.value or ():
            self.walk(item)

    def apply(self, dataset: Dataset, tag: int, element, action: str) -> None:
        self.actions[action] += 1
        if action == "X":
            del dataset[tag]
        elif action == "K":
            if element.VR == "SQ":
                self.items(element)
        elif action == "Z":
            element.value = Sequence() if element.VR == "SQ" else None
        elif action == "D":
            element.value = self.dummy(element)
        elif action == "U":
            if element.VR == "SQ":
                self.items(element)
            else:
                element.value = self.map_values(element.value, self.uid)
        elif action == "C":
            self.clean(element)

    # --- values -------------------------------------------------------------------

    def uid(self, value: str) -> str:
        return new_uid(self.uid_key, value) if value else value

    @staticmethod
    def map_values(value, function):
        if value is None or value == "":
            return value
        if isinstance(value, MultiValue | list | tuple):
            return [function(str(v)) for v in value]
        return function(str(value))

    def dummy(self, element):
        vr = element.VR
        if vr == "SQ":
            return Sequence([Dataset()])
        if vr == "UI":
            return self.map_values(element.value, self.uid) or self.uid("dummy")
        if vr in DUMMY:
            return DUMMY[vr]
        if vr in ("OB", "OW", "OD", "OF", "OL", "OV", "UN"):
            return b"\x00\x00"
        return 0

    def clean(self, element) -> None:
        vr = element.VR
        days = self.subject.date_shift_days
        if vr == "SQ":
            self.items(element)
        elif vr == "DA":
            element.value = self.map_values(element.value, lambda v: shift_date(v, days)) or None
        elif vr == "DT":
            element.value = (
                self.map_values(element.value, lambda v: shift_datetime(v, days)) or None
            )
        elif vr == "UI":
            element.value = self.map_values(element.value, self.uid)
        elif vr in TEXT_VRS:
            element.value = self.map_values(element.value, self.scrub) or None

    def scrub(self, text: str) -> str:
        """Text with what identifies the patient taken out (the C of Clean Descriptors)."""
        text = _without(text, self._identifiers)
        text = _DATE_LIKE.sub("", text)
        text = _LONG_NUMBER.sub("", text)
        return re.sub(r"\s{2,}", " ", text).strip(" ,;:-/")


def _identifiers(dataset: Dataset, profile: Profile) -> set[str]:
    """The values of the data set that identify and that the profile does not keep
    (names, IDs, numbers, places, devices; not the descriptions the table cleans): what
    a free text must not repeat. Person names count by their components."""
    found: set[str] = set()
    for element in dataset.iterall():
        tag = int(element.tag)
        if element.VR not in IDENTIFYING_VRS or element.value in (None, ""):
            continue
        action = profile.action(tag)
        if action is None or action[0] in "KC" or tag in DESCRIPTORS:
            continue
        values = element.value if isinstance(element.value, MultiValue) else [element.value]
        for value in values:
            text = str(value).strip()
            parts = _PN_PARTS.split(text) if element.VR == "PN" else [text]
            found.update(p for p in parts if len(p) >= 2)
    return found


def _without(text: str, identifiers: list[str]) -> str:
    """The text with each identifier (lower case, longest first) removed wherever it
    stands as a whole word or phrase, whatever its case."""
    folded = text.lower()
    if len(folded) != len(text):  # a character whose lower case is longer: compare as is
        folded = text
    for identifier in identifiers:
        start = folded.find(identifier)
        while start >= 0:
            end = start + len(identifier)
            before = start == 0 or not folded[start - 1].isalnum()
            after = end == len(folded) or not folded[end].isalnum()
            if before and after:
                text, folded = text[:start] + text[end:], folded[:start] + folded[end:]
                start = folded.find(identifier, start)
            else:
                start = folded.find(identifier, start + 1)
    return text


def _mark(dataset: Dataset, profile: Profile, subject: Subject) -> None:
    dataset.PatientName = subject.pseudonym
    dataset.PatientID = subject.pseudonym
    dataset.PatientIdentityRemoved = "YES"
    codes = profile.method_codes()
    dataset.DeidentificationMethod = [meaning for _, meaning in codes]
    items = []
    for value, meaning in codes:
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        items.append(item)
    dataset.DeidentificationMethodCodeSequence = Sequence(items)
    shifted = profile.has(Option.RETAIN_LONGITUDINAL_MODIFIED_DATES)
    dataset.LongitudinalTemporalInformationModified = "MODIFIED" if shifted else "REMOVED"


def _file_meta(dataset: Dataset) -> FileMetaDataset:
    """The file meta information rebuilt from the de-identified data set: nothing of the
    sender's (source AE title, private information) survives."""
    old = dataset.file_meta
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = dataset.get("SOPClassUID", old.get("MediaStorageSOPClassUID"))
    meta.MediaStorageSOPInstanceUID = dataset.get("SOPInstanceUID", "")
    meta.TransferSyntaxUID = old.TransferSyntaxUID
    return meta
