"""The shared text rules (worklist.matching, worklist.names) on their own: what a typed
letter or wild card stands for, and how person names are split, shown and compared."""

import re

import pytest
from django.core.exceptions import ValidationError

from worklist import matching, names


def test_sql_wildcards_stay_literal_in_like_and_glob():
    assert matching.like_pattern("A_1%*?\\") == "A\\_1\\%%_\\\\"
    assert matching.glob_pattern("A[1]*?") == "A[[]1]*?"


@pytest.mark.parametrize(
    ("pattern", "text", "found"),
    [
        ("A1*", "A100", True),
        ("A1?0", "A110", True),
        ("A1?0", "A1100", False),
        ("A.B*", "AXB", False),
        ("A.B*", "A.BC", True),
        ("(1)*", "(1) x", True),
    ],
)
def test_wildcards_as_a_regular_expression(pattern, text, found):
    regex = re.compile(matching.translate_wildcards(pattern), re.DOTALL)
    assert (regex.fullmatch(text) is not None) is found


@pytest.mark.parametrize(
    ("typed", "stored", "found"),
    [
        ("u", "u", True),
        ("u", "Ü", True),
        ("u", "ú", True),
        ("ü", "Ü", True),
        ("ü", "u", False),
        ("ü", "ú", False),
        ("Ü", "ü", True),
        ("e", "ě", True),
        ("ř", "r", False),
    ],
)
def test_accents_match_one_way(typed, stored, found):
    assert (re.fullmatch(matching.letter_pattern(typed), stored) is not None) is found


def test_accents_count_both_ways_when_switched_off():
    assert re.fullmatch(matching.letter_pattern("u", accent_insensitive=False), "U")
    assert not re.fullmatch(matching.letter_pattern("u", accent_insensitive=False), "ü")


def test_full_width_letters_are_not_accents():
    assert not matching.means_accents("ＭＵＬＬＥＲ")
    assert matching.means_accents("Müller")


def test_folding_strips_accents_and_case():
    assert matching.fold("Dvořák") == "DVORAK"
    assert names.search_key("Müller^Jörg=ミュラー") == "MULLER^JORG"


def test_a_person_name_as_people_read_it():
    assert names.display("Vivaldi^Antonio^Lucio^Don=ヴィヴァルディ") == "Vivaldi, Antonio Lucio"
    assert names.display("Vivaldi") == "Vivaldi"


def test_trailing_empty_components_and_groups_do_not_count():
    assert names.same("Vivaldi^Antonio^^", "Vivaldi^Antonio")
    assert names.same("Vivaldi^Antonio==", "Vivaldi^Antonio")
    assert not names.same("Vivaldi^Antonio", "Vivaldi^Antonia")


def test_a_name_from_its_typed_parts():
    assert names.from_components("Vivaldi", "Antonio", "", "", "") == "Vivaldi^Antonio"
    assert names.component(" Antonio ") == "Antonio"
    with pytest.raises(ValidationError):
        names.component("Vivaldi^Antonio")
