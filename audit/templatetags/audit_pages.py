"""Display helpers of the audit review pages: pager links that keep the filters, and
the compact list of an event's patients."""

from datetime import UTC

from django import template
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

register = template.Library()

CURSORS = ("before", "after", "off_before", "unrelated_before")
FIRST_PATIENTS = 3


@register.simple_tag(takes_context=True)
def page_link(context, key: str = "", value=None) -> str:
    """The query string of the current page with every pager cursor dropped and
    `key`=`value` set (none: the first page)."""
    query = context["request"].GET.copy()
    for cursor in CURSORS:
        query.pop(cursor, None)
    if key and value is not None:
        query[key] = value
    return "?" + query.urlencode()


def _compact(values: list[str], css_class: str):
    """The first few values, then "+N more" that opens on the rest."""

    def spans(some):
        return format_html_join(", ", '<span class="{}">{}</span>', ((css_class, v) for v in some))

    rest = values[FIRST_PATIENTS:]
    if not rest:
        return spans(values)
    return format_html(
        '{}\n<details class="more"><summary>+{} more</summary>{}</details>',
        spans(values[:FIRST_PATIENTS]),
        len(rest),
        spans(rest),
    )


def _patient(p) -> str:
    issuer = f"^^^{p.issuer_of_patient_id}" if p.issuer_of_patient_id else ""
    return f"{p.patient_id}{issuer}"


@register.simple_tag
def event_row(event):
    """One compact row of an event table, built here rather than by a dozen template
    lookups per row (a page lists 50)."""
    local = timezone.localtime(event.event_date_time)
    role = format_html(' <small class="muted">{}</small>', event.role) if event.role else ""
    port = f":{event.source_port}" if event.source_port else ""
    detail = ""
    if event.detail:
        short = event.detail if len(event.detail) <= 60 else event.detail[:59] + "…"
        detail = format_html(
            ' <small class="muted detail" title="{}">{}</small>', event.detail, short
        )
    outcome = mark_safe(' class="failure"') if event.event_outcome_indicator else ""  # noqa: S308
    return format_html(
        '<tr data-seq="{seq}"><td class="mono" title="request {request}">{seq}</td>'
        '<td><time datetime="{utc}">{when}</time></td>'
        "<td>{actor}{role}</td>"
        '<td><span class="mono">{ip}{port}</span> <small class="muted">{channel}</small></td>'
        "<td>{action} ({verb}){detail}</td>"
        "<td{outcome}>{outcome_name}</td>"
        '<td class="patients mono">{patients}</td>'
        '<td class="objects mono">{objects}</td></tr>',
        seq=event.seq,
        request=event.correlation_id,
        utc=event.event_date_time.astimezone(UTC).isoformat(),
        when=local.strftime("%Y-%m-%d %H:%M:%S"),
        actor=event.actor,
        role=role,
        ip=event.source_ip or "",
        port=port,
        channel=event.get_channel_display(),
        action=event.get_action_display(),
        verb=event.event_action_code,
        detail=detail,
        outcome=outcome,
        outcome_name=event.get_event_outcome_indicator_display(),
        patients=_compact([_patient(p) for p in event.patients.all()], "patient"),
        objects=_compact([str(value) for _kind, value in event.participant_objects], "object"),
    )
