"""Errors raised by service functions, translated once for every channel:
the REST API answers 400 / 409, the UI shows them next to the field."""


class Invalid(Exception):
    """The request breaks a rule tied to its fields (HTTP 400). `errors` is keyed like
    DRF's field errors, nested for the steps of an order."""

    def __init__(self, errors: dict):
        super().__init__(errors)
        self.errors = errors


class Conflict(Exception):
    """The request is well-formed but clashes with what is stored (HTTP 409)."""

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details
