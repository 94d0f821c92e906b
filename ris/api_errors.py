from django.core.exceptions import ValidationError
from django.db import IntegrityError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import Conflict, Invalid


def exception_handler(exc, context):
    """DRF's handler, plus the service errors: Invalid -> 400, Conflict -> 409."""
    if isinstance(exc, Conflict):
        return Response({"detail": exc.message, **exc.details}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, Invalid):
        return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ValidationError):
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        return Response(errors, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, IntegrityError):
        # A unique identifier taken by a concurrent request between our check and the
        # insert: the database constraint refused it and the transaction rolled back.
        return Response(
            {"detail": "A unique identifier in the request was taken meanwhile; retry."},
            status=status.HTTP_409_CONFLICT,
        )
    return drf_exception_handler(exc, context)
