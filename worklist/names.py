"""DICOM person names (PN, PS3.5 6.2.1): how they are split, built from their parts,
shown to people and compared.

A PN holds up to three component groups separated by "=" (alphabetic, ideographic,
phonetic), each of up to five components separated by "^" (family, given, middle,
prefix, suffix). Trailing empty components and groups do not count: "Vivaldi^Antonio^^"
and "Vivaldi^Antonio" are the same name.

The UI, the services, the selectors and the DICOM code use it alike.
"""

from django.core.exceptions import ValidationError

from .matching import fold

GROUP_SEPARATOR = "="
COMPONENT_SEPARATOR = "^"
COMPONENTS = ("family", "given", "middle", "prefix", "suffix")
PN_GROUPS = 3


def groups(person_name: str) -> list[str]:
    """The component groups as sent: alphabetic first."""
    return person_name.split(GROUP_SEPARATOR)


def alphabetic(person_name: str) -> str:
    """The alphabetic component group, the one people of the department read."""
    return groups(person_name)[0]


def components(group: str) -> list[str]:
    return group.split(COMPONENT_SEPARATOR)


def trimmed(group: str) -> str:
    """A component group without its trailing empty components (and spaces)."""
    return group.rstrip(COMPONENT_SEPARATOR + " ")


def canonical(person_name: str) -> str:
    """The name without what does not count: trailing empty components and groups."""
    return GROUP_SEPARATOR.join(trimmed(g) for g in groups(person_name)).rstrip(GROUP_SEPARATOR)


def same(a: str, b: str) -> bool:
    """Whether two PN values are the same name (exactly, apart from what does not count)."""
    return canonical(a) == canonical(b)


def display(person_name: str) -> str:
    """A PN as people read it: 'Family, Given Middle' (alphabetic group only)."""
    parts = components(alphabetic(person_name))
    family = parts[0].strip()
    given = " ".join(p.strip() for p in parts[1:3] if p.strip())
    return f"{family}, {given}" if given else family


def component(value: str) -> str:
    """One typed component (a family name, a given name...), checked: the separators
    of a PN cannot be part of it."""
    if any(ch in value for ch in (GROUP_SEPARATOR, COMPONENT_SEPARATOR, "\\")):
        raise ValidationError("Must not contain ^, = or \\.")
    return value.strip()


def from_components(*parts: str) -> str:
    """An alphabetic group from its components in PN order (family, given, middle,
    prefix, suffix), without trailing empty ones."""
    return COMPONENT_SEPARATOR.join(parts).rstrip(COMPONENT_SEPARATOR)


def search_key(person_name: str) -> str:
    """The alphabetic group folded (accents stripped, upper case), for indexed
    prefix and substring matching; one-way accent matching checks the name itself."""
    return fold(alphabetic(person_name))


def name_tokens(person_name: str) -> frozenset[str]:
    """The words of a name's alphabetic group, folded (accents stripped, upper case),
    whatever component they were typed in: 'Müller^Anna Maria' -> {MULLER, ANNA, MARIA}."""
    words = fold(alphabetic(person_name)).replace(COMPONENT_SEPARATOR, " ").replace("-", " ")
    return frozenset(w for w in words.split() if w)


def similar(a: str, b: str) -> bool:
    """Whether two names may be the same person's: the same words once accents and case
    are ignored, in any order (family and given swapped), or the words of one all in
    the other (a middle name left out)."""
    first, second = name_tokens(a), name_tokens(b)
    if not first or not second:
        return False
    return first <= second or second <= first
