"""De-identification by PS3.15 Annex E: the profile table (profile.py) and the engine
applying it to one data set (engine.py). Pure: no Django, no database."""

from .engine import Result, Subject, deidentify, left_out_reason, new_uid
from .profile import METHOD_CODES, Option, Profile, rows

__all__ = [
    "METHOD_CODES",
    "Option",
    "Profile",
    "Result",
    "Subject",
    "deidentify",
    "left_out_reason",
    "new_uid",
    "rows",
]
