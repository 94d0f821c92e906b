"""Model validation as the services use it: the VR rules of the models, errors keyed
the way the API answers them (nested for the steps of an order)."""

from django.core.exceptions import ValidationError

from ris.errors import Invalid


def nest(path: tuple, leaf):
    """("scheduled_procedure_steps", 1, "field"), [msg] ->
    {"scheduled_procedure_steps": {"1": {"field": [msg]}}}: the shape DRF gives errors
    of list items, so every 400 of the API reads the same."""
    result = leaf
    for key in reversed(path):
        result = {str(key): result}
    return result


def invalid(path: tuple, message: str) -> Invalid:
    return Invalid(nest(path, [message]))


def full_clean(instance, path: tuple = (), exclude=None, identity_checked=False) -> None:
    """Model validation (the VR rules), with errors keyed under `path`.

    identity_checked: the caller already made sure the unique identifiers are free
    (and the database constraints back that up), so the per-field uniqueness queries
    are skipped on the booking path.
    """
    try:
        instance.full_clean(
            exclude=exclude,
            validate_unique=not identity_checked,
            validate_constraints=not identity_checked,
        )
    except ValidationError as exc:
        raise Invalid(nest(path, exc.message_dict) if path else exc.message_dict) from exc
