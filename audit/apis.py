"""GET /api/audit/events/: the trail for integrations, compliance officers only
(permission audit.view_event). Reading it is itself recorded (Audit Log Used)."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

from . import selectors, services
from .codes import Action, Verb
from .models import Event
from .serializers import EventQuerySerializer, EventSerializer

PAGE = inline_serializer(
    "AuditEventPage",
    {
        "next": serializers.URLField(allow_null=True, help_text="Older events."),
        "previous": serializers.URLField(allow_null=True, help_text="Newer events."),
        "results": EventSerializer(many=True),
    },
)


def _search(query: dict) -> selectors.EventSearch:
    return selectors.EventSearch(
        patient_id=query.get("patient_id", ""),
        issuer=query.get("issuer_of_patient_id"),
        user=query.get("user", ""),
        ae_title=query.get("ae_title", ""),
        action=query.get("action", ""),
        outcome=query.get("outcome"),
        channel=query.get("channel", ""),
        since=query.get("since"),
        until=query.get("until"),
    )


class EventList(APIView):
    """Audit events, newest first, a page at a time (keyset: follow `next`)."""

    queryset = Event.objects.all()  # for the model permission: audit.view_event

    @extend_schema(parameters=[EventQuerySerializer], responses=PAGE)
    def get(self, request):
        params = EventQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        query = params.validated_data
        search = _search(query)
        page = selectors.event_page(
            search,
            before=query.get("before"),
            after=query.get("after"),
            size=query.get("page_size", selectors.PAGE_SIZE),
        )
        services.record(
            Action.AUDIT_LOG_USED,
            verb=Verb.READ,
            patients=search.patients_named(),
            detail=f"GET /api/audit/events/: {search.describe()}"[:255],
        )
        return Response(
            {
                "next": self._link(request, "before", page.older),
                "previous": self._link(request, "after", page.newer),
                "results": EventSerializer(page.events, many=True).data,
            }
        )

    def _link(self, request, name: str, seq: int | None) -> str | None:
        if seq is None:
            return None
        url = request.build_absolute_uri()
        url = remove_query_param(remove_query_param(url, "before"), "after")
        return replace_query_param(url, name, seq)
