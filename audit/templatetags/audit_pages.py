"""Display helpers of the audit review pages: pager links that keep the filters, and
the compact list of an event's patients."""

from django import template

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


@register.inclusion_tag("audit/_patients.html")
def event_patients(event):
    """An event's patients: the first few, then "+N more" that opens on the rest."""
    patients = list(event.patients.all())
    return {
        "first": patients[:FIRST_PATIENTS],
        "rest": patients[FIRST_PATIENTS:],
        "seq": event.seq,
    }


@register.inclusion_tag("audit/_objects.html")
def event_objects(event):
    """An event's other objects (accession numbers, UIDs...), compacted the same way."""
    objects = [value for _kind, value in event.participant_objects]
    return {"first": objects[:FIRST_PATIENTS], "rest": objects[FIRST_PATIENTS:]}
