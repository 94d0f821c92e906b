"""The scheduler web UI. Each view parses a form, calls a selector (every read of
patient data) or a booking service (every write), and renders; with htmx a view
answers the fragment that changed.

Access is by model permission, held through the role groups (see
worklist/migrations/0004_roles.py): a technologist views, a scheduler books.
"""

from dataclasses import dataclass, field
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.http import Http404
from django.shortcuts import render, resolve_url
from django_htmx.http import HttpResponseClientRedirect

from ris.errors import Conflict, Invalid
from worklist.ui.forms import put_errors


def requires(*perms: str):
    """Log in first, then hold every permission named (403 otherwise). An htmx
    request of an expired session (the board refreshing itself) sends the whole page
    to the login, not the login form into the fragment."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                if request.htmx:
                    here = request.htmx.current_url_abs_path or request.get_full_path()
                    return HttpResponseClientRedirect(
                        f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': here})}"
                    )
                return redirect_to_login(request.get_full_path())
            if not request.user.has_perms(perms):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def _found(selector, **kwargs):
    try:
        return selector(**kwargs)
    except (ObjectDoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def _with_defaults(data, **defaults):
    """The submitted values, with defaults for the fields left out, so a form bound to
    a bare URL shows the values it acts on (today, ROUTINE...)."""
    data = data.copy()
    for name, value in defaults.items():
        if not data.get(name):
            data[name] = value
    return data


def _fragment_or_page(request, fragment: str, page: str, context: dict, status: int = 200):
    """The fragment alone for an htmx request that targets it, else the whole page."""
    template = fragment if request.htmx and not request.htmx.boosted else page
    return render(request, template, context, status=status)


@dataclass
class Attempt:
    """What a service call for a submitted form came to: its result, or the status to
    answer (400 refused input, 409 a conflict, with the conflict's message)."""

    result: Any = None
    status: int = 200
    conflict: str = ""
    conflict_details: dict = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.status == 200


def attempt(form, service, /, *, renamed=None, conflict_on_form=True, **kwargs) -> Attempt:
    """Call `service(**kwargs)` for a submitted form, mapping its refusals once for
    every view: Invalid puts the errors beside the fields they name (`renamed`: the
    service's field names the form calls otherwise), 400; Conflict puts its message at
    the top of the form (unless the page shows it elsewhere), 409."""
    try:
        return Attempt(result=service(**kwargs))
    except Conflict as exc:
        if conflict_on_form:
            form.add_error(None, exc.message)
        return Attempt(status=409, conflict=exc.message, conflict_details=exc.details)
    except Invalid as exc:
        put_errors(form, exc, renamed)
        return Attempt(status=400)


def attempt_slot(form, service, /, *, renamed, **kwargs) -> tuple[Attempt, Conflict | None, str]:
    """A booking or a move submitted from a slot page: `attempt`, with the answers the
    booking and the move pages give alike. Returns the attempt, the patient safety
    rule that refused it (services.safety: shown with the confirmation it asks for,
    the slot kept) and the message of a slot taken meanwhile (the slot dropped from
    the form, what was typed kept). No right to override an overlap is a 403, said
    beside its checkbox."""
    try:
        outcome = attempt(form, service, renamed=renamed, conflict_on_form=False, **kwargs)
    except PermissionDenied:
        form.add_error("allow_patient_overlap", "You may not book overlapping exams.")
        return Attempt(status=403), None, ""
    if outcome.conflict_details.get("rule"):
        return outcome, Conflict(outcome.conflict, **outcome.conflict_details), ""
    if outcome.conflict:
        form.cleaned_data["slot"] = None
        return outcome, None, outcome.conflict
    return outcome, None, ""
