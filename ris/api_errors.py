"""How the REST API answers an error: always JSON, never a traceback.

Service errors: Invalid -> 400, Conflict -> 409. A unique constraint of the database
refusing a row (an identifier taken by a concurrent request between the service's
check and the insert) -> 409, retry. Any other error (another integrity error, a bug)
-> a logged 500 whose body says no more than that."""

import logging

from django.core.exceptions import RequestDataTooBig, ValidationError
from django.db import IntegrityError
from django.http import JsonResponse
from django.views import defaults
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from .errors import Conflict, Invalid

logger = logging.getLogger(__name__)

UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE unique_violation


def is_unique_violation(exc: IntegrityError) -> bool:
    """True when the database refused a row for a unique constraint (not for a foreign
    key, a NOT NULL or a check constraint)."""
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) == UNIQUE_VIOLATION:
        return True
    if getattr(cause, "sqlite_errorname", "") in (
        "SQLITE_CONSTRAINT_UNIQUE",
        "SQLITE_CONSTRAINT_PRIMARYKEY",
    ):
        return True
    return str(exc).startswith("UNIQUE constraint failed")


def server_error(exc, context) -> Response:
    view = context.get("view") if context else None
    logger.error(
        "Unhandled %s in %s",
        type(exc).__name__,
        type(view).__name__ if view else "API",
        exc_info=exc,
    )
    return Response(
        {"detail": "Internal server error; it was logged."},
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def exception_handler(exc, context):
    """DRF's handler, plus the service errors, the database's, and a JSON 500 for the
    rest. Whatever the request wrote in an atomic block is rolled back."""
    response = _answer(exc, context)
    set_rollback()
    return response


def _answer(exc, context) -> Response:
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"detail": "Request body too large."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, Conflict):
        return Response({"detail": exc.message, **exc.details}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, Invalid):
        return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ValidationError):
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        return Response(errors, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, IntegrityError) and is_unique_violation(exc):
        return Response(
            {"detail": "A unique identifier in the request was taken meanwhile; retry."},
            status=status.HTTP_409_CONFLICT,
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return server_error(exc, context)
    return response


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def not_found(request, exception=None):
    """Django's 404 for pages; JSON for a path under /api/ no endpoint answers."""
    if _is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error_page(request):
    """Django's 500 for pages; JSON under /api/ (an error outside any view's handler)."""
    if _is_api(request):
        return JsonResponse({"detail": "Internal server error; it was logged."}, status=500)
    return defaults.server_error(request)


def bad_request(request, exception=None):
    """Django's 400 (a request it refused before any view, e.g. a body over
    DATA_UPLOAD_MAX_MEMORY_SIZE); JSON under /api/, 413 for a body too large."""
    if _is_api(request):
        if isinstance(exception, RequestDataTooBig):
            return JsonResponse({"detail": "Request body too large."}, status=413)
        return JsonResponse({"detail": "Bad request."}, status=400)
    return defaults.bad_request(request, exception)
