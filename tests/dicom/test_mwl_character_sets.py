"""Character sets: queries in any set the standard defines, answers in UTF-8 or in
the set configured for a modality, with what does not fit replaced as documented
(worklist/dicom/charset.py)."""

import pytest
from pydicom.dataset import Dataset

from tests.factories import book_step, future_day, local, station
from worklist.dicom import charset
from worklist.models import Modality
from worklist.services.stations import modality_save

from .conftest import find, matches, values

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR")

DAY = future_day(7)  # a day ahead: its bookings are all in the future

JAPANESE = "ISO 2022 IR 6\\ISO 2022 IR 87"
KOREAN = "ISO 2022 IR 6\\ISO 2022 IR 149"


@pytest.fixture
def names(dicom_port):
    station("CT1")
    book_step(patient_name="Müller^Jörg", start=local(DAY, 8))
    book_step(patient_name="Dvořák^Antonín", start=local(DAY, 9))
    book_step(patient_name="Yamada^Tarou=山田^太郎=やまだ^たろう", start=local(DAY, 10))
    book_step(patient_name="Hong^Gildong=洪^吉洞=홍^길동", start=local(DAY, 11))
    return dicom_port


def query(patient_name, character_set=None) -> Dataset:
    ds = Dataset()
    if character_set:
        ds.SpecificCharacterSet = (
            character_set.split("\\") if "\\" in character_set else character_set
        )
    ds.PatientName = patient_name
    return ds


@pytest.mark.parametrize(
    ("character_set", "asked", "found"),
    [
        ("ISO_IR 100", "Müller*", "Müller^Jörg"),
        ("ISO_IR 192", "Dvořák*", "Dvořák^Antonín"),
        ("ISO_IR 101", "Dvořák*", "Dvořák^Antonín"),
        (JAPANESE, "=山田*", "Yamada^Tarou=山田^太郎=やまだ^たろう"),
        (JAPANESE, "==やまだ*", "Yamada^Tarou=山田^太郎=やまだ^たろう"),
        (KOREAN, "=洪*", "Hong^Gildong=洪^吉洞=홍^길동"),
        (KOREAN, "==홍^길동", "Hong^Gildong=洪^吉洞=홍^길동"),
        (None, "MULLER*", "Müller^Jörg"),
    ],
)
def test_queries_are_read_in_their_character_set(names, character_set, asked, found):
    assert values(find(names, query(asked, character_set)), "PatientName") == [found]


def test_answers_are_utf8_by_default(names):
    answers = matches(find(names, query("")))
    assert {a.SpecificCharacterSet for a in answers} == {"ISO_IR 192"}
    assert [str(a.PatientName) for a in answers][3] == "Hong^Gildong=洪^吉洞=홍^길동"


def configure(character_set):
    modality_save(
        modality=Modality(), ae_title="OLDCT", sees_all_stations=True, character_set=character_set
    )


def test_a_latin1_modality_gets_latin1_with_what_does_not_fit_replaced(names):
    configure("ISO_IR 100")
    answers = matches(find(names, query(""), calling_ae="OLDCT"))
    assert {a.SpecificCharacterSet for a in answers} == {"ISO_IR 100"}
    assert [str(a.PatientName) for a in answers] == [
        "Müller^Jörg",  # fits
        "Dvorák^Antonín",  # ř is not Latin-1: r
        "Yamada^Tarou=??^??=???^???",
        "Hong^Gildong=?^??=?^??",
    ]


def test_an_ascii_modality_gets_no_specific_character_set(names):
    configure("ISO_IR 6")
    answers = matches(find(names, query(""), calling_ae="OLDCT"))
    assert all("SpecificCharacterSet" not in a for a in answers)
    assert str(answers[0].PatientName) == "Muller^Jorg"


def test_a_japanese_modality_gets_iso_2022_with_the_ideographic_names(names):
    configure(JAPANESE)
    answers = matches(find(names, query(""), calling_ae="OLDCT"))
    assert list(answers[0].SpecificCharacterSet) == ["ISO 2022 IR 6", "ISO 2022 IR 87"]
    assert str(answers[2].PatientName) == "Yamada^Tarou=山田^太郎=やまだ^たろう"
    assert str(answers[0].PatientName) == "Muller^Jorg"


def test_replacement_rules():
    assert charset.fit("Straße Łódź", "ISO_IR 100") == "Straße Lódz"
    assert charset.fit("Straße Łódź", "ISO_IR 6") == "Strasse Lodz"
    assert charset.fit("ﾔﾏﾀﾞ", JAPANESE) == "ヤマダ"
    assert charset.fit("Ｍüller", "ISO_IR 6") == "Muller"
    assert charset.fit("山田", "ISO_IR 100") == "??"
    assert charset.fit("anything 山田", "ISO_IR 192") == "anything 山田"
