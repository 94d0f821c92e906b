"""Log lines about refused DICOM requests say what was wrong without the value sent:
a refused query or attribute list may carry a patient's birth date. The full comment
still goes back to the peer (Error Comment) and into the access audit.

The comments quote values only where a date, time, date-time, UTC offset or UID could
not be read (worklist/dicom/values.py, query.py); all of them are digits, and a run of
four or more digits with their separators is masked. Names are never quoted."""

import re

_VALUE = re.compile(r"[0-9][0-9.:+\-/ ]{2,}[0-9]")


def without_values(comment: str) -> str:
    """'Not a date (YYYYMMDD): 1957-03-04' -> 'Not a date (YYYYMMDD): …'."""
    return _VALUE.sub("…", comment)
