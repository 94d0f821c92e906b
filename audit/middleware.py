"""Binds the audit context of each web request (UI, REST API, admin) and writes what
the request read before its response leaves.

If the reads cannot be written the response is replaced by a server error: the data
is never sent without its trace. Refused requests (401, 403) are recorded too.
"""

from . import context, services
from .codes import Action, EventType, Outcome, Verb


class AuditMiddleware:
    """Place after AuthenticationMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        ctx = context.for_request(request)
        with context.bind(ctx):
            response = self.get_response(request)
            record_refusal(response.status_code)
            services.flush_reads(ctx)
            ctx.buffer_reads = False  # anything read while streaming is written at once
        response[context.CORRELATION_HEADER] = ctx.correlation_id
        return response


def record_refusal(status_code: int) -> None:
    if status_code == 401:
        services.record(
            Action.USER_AUTHENTICATION,
            verb=Verb.EXECUTE,
            outcome=Outcome.MINOR_FAILURE,
            event_type=EventType.LOGIN,
        )
    elif status_code == 403:
        services.record(
            Action.SECURITY_ALERT,
            verb=Verb.EXECUTE,
            outcome=Outcome.MINOR_FAILURE,
            event_type=EventType.USE_OF_RESTRICTED_FUNCTION,
        )
