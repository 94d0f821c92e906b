"""The engine's output checked against the table itself (PS3.15 Table E.1-1 as data):
a data set holding every attribute the table lists, de-identified with each choice of
options, written to a file and read back with pydicom, keeps nothing the table says
to remove and no original value the table says to blank, replace or clean."""

import itertools
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.datadict import dictionary_VR, get_entry
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from export.deid import Option, Profile, Subject, deidentify, rows
from export.deid.profile import resolve

PSEUDONYM = "PSEUDO0001"
SHIFT = -1234
OPTION_SETS = [
    frozenset(c) for n in range(len(Option) + 1) for c in itertools.combinations(Option, n)
]
VALUES = {
    "PN": "Doe^Jane^Q",
    "DA": "20240117",
    "DT": "20240117101112",
    "TM": "101112",
    "UI": "1.2.826.0.1.3680043.10.5.77",
    "AS": "041Y",
    "IS": "42",
    "DS": "42.5",
    "CS": "IDENTCODE",
    "AE": "IDENTAE",
    "SH": "IDENT-SH",
    "UR": "http://ident.example/x",
}


def _value(tag: int, vr: str):
    if vr in VALUES:
        return VALUES[vr]
    if vr in ("LO", "LT", "ST", "UT", "UC"):
        return f"Identifying text of Doe Jane {tag:08X}"
    if vr in ("US", "SS", "UL", "SL", "UV", "SV"):
        return 7
    if vr in ("FL", "FD"):
        return 7.5
    if vr == "AT":
        return 0x00100010
    return b"\x01\x02"


def _listed_tags() -> list[tuple[int, str]]:
    """The table's attributes with a fixed tag that the data dictionary knows."""
    found = []
    for row in rows():
        if row.tag == "private" or "x" in row.tag:
            continue
        tag = int(row.tag.strip("()").replace(",", ""), 16)
        if tag >> 16 in (0x0000, 0x0002, 0xFFFA, 0xFFFC):
            continue  # command, file meta and trailing groups are not written in a data set
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            continue
        found.append((tag, vr.split(" or ")[0]))
    return found


def _everything() -> Dataset:
    ds = Dataset()
    for tag, vr in _listed_tags():
        if vr == "SQ":
            item = Dataset()
            item.CodeValue = "X1"
            item.CodeMeaning = "Doe Jane text"
            ds.add_new(tag, vr, Sequence([item]))
        else:
            ds.add_new(tag, vr, _value(tag, vr))
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.add_new(0x60003000, "OW", b"\x00\x01" * 8)  # Overlay Data, a repeating group
    ds.add_new(0x50003000, "OW", b"\x00\x01" * 8)  # Curve Data
    block = ds.private_block(0x0009, "ACME", create=True)
    block.add_new(0x01, "LO", "Doe^Jane")
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def _empty(element) -> bool:
    return element.value in (None, "", b"") or (element.VR == "SQ" and len(element.value) == 0)


@pytest.mark.parametrize("options", OPTION_SETS, ids=lambda o: "+".join(sorted(o)) or "basic")
def test_exported_file_keeps_nothing_the_table_removes_or_blanks(tmp_path: Path, options):
    source = _everything()
    profile = Profile(options)
    result = deidentify(
        source, profile=profile, subject=Subject(PSEUDONYM, SHIFT), uid_key=b"project key"
    )
    path = tmp_path / "out.dcm"
    result.dataset.save_as(path, enforce_file_format=True)
    written = dcmread(path)

    checked = 0
    for tag, vr in _listed_tags():
        original = source[tag]
        action = resolve(profile.action(tag), tag)
        present = tag in written
        name = get_entry(tag)[2]
        if tag in (0x00100010, 0x00100020):
            assert written[tag].value == PSEUDONYM, name
        elif action == "X":
            assert not present, f"{name} should be removed ({action})"
        elif action == "Z":
            assert not present or _empty(written[tag]), f"{name} should be empty"
        elif action in ("D", "U"):
            assert present and not _empty(written[tag]), f"{name} needs a value ({action})"
            if vr != "SQ":
                assert written[tag].value != original.value, f"{name} kept its value ({action})"
        elif action == "C" and vr in ("DA", "DT"):
            assert written[tag].value != original.value, f"{name} date not moved"
        elif action == "C" and vr in ("LO", "LT", "ST", "UT", "UC", "SH", "PN"):
            kept = str(written[tag].value) if present else ""
            assert "Doe" not in kept and "Jane" not in kept, f"{name} not cleaned: {kept!r}"
        elif action == "K" and vr != "SQ":
            assert written[tag].value == original.value, f"{name} should be kept"
        checked += 1
    assert checked > 500
    assert 0x60003000 not in written and 0x50003000 not in written
    assert not any(element.tag.is_private for element in written.iterall())
    assert written.PatientIdentityRemoved == "YES"


def test_the_table_is_read_whole():
    table = rows()
    assert len(table) == 621
    assert len({row.tag for row in table}) == 621
    by_tag = {row.tag: row for row in table}
    # Rows as PS3.15 prints them, one of each kind of action and option.
    assert by_tag["(0010,0010)"].actions["basic"] == "Z"
    assert by_tag["(0010,0040)"].actions["rtn_patient_characteristics"] == "K"
    assert by_tag["(0008,0020)"].actions["rtn_long_modified_dates"] == "C"
    assert by_tag["(0008,1030)"].actions["clean_descriptors"] == "C"
    assert by_tag["(0020,000D)"].actions["basic"] == "U"
    assert by_tag["(0008,1140)"].actions["basic"] == "X/Z/U*"
    assert by_tag["private"].actions["basic"] == "X"


def test_options_override_the_basic_profile_only_where_the_table_says():
    basic, with_dates = Profile(), Profile([Option.RETAIN_LONGITUDINAL_MODIFIED_DATES])
    differing = [tag for tag in basic.exact if basic.exact[tag] != with_dates.exact[tag]]
    column = {
        int(row.tag.strip("()").replace(",", ""), 16)
        for row in rows()
        if row.actions["rtn_long_modified_dates"] and "x" not in row.tag and row.tag != "private"
    }
    assert set(differing) == column
