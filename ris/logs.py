"""Logging pieces of the settings' LOGGING."""

import logging

REFUSED = {401, 403}


class RefusalsOnOneLine(logging.Filter):
    """A refused request (401, 403) is the visitor's doing, not a fault of ours: log it
    on one line ("Forbidden (Permission denied): /path"), without the traceback of the
    PermissionDenied Django logs with it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) in REFUSED:
            record.exc_info = None
            record.exc_text = None
        return True
