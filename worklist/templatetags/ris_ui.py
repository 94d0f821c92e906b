"""Small display helpers of the scheduler UI."""

from django import template

from worklist.services.safety import patient_alerts as alerts_of
from worklist.ui.grid import STATUS_CLASS, person_name

register = template.Library()


@register.filter
def pn(value: str) -> str:
    """A DICOM person name as people read it: 'Family, Given'."""
    return person_name(value or "")


@register.filter
def status_class(value: str) -> str:
    """CSS class of a step or order status (colour and mark)."""
    return STATUS_CLASS.get(value, "cancelled" if value == "CANCELLED" else "scheduled")


@register.inclusion_tag("ui/_field.html")
def field(bound_field, css_class: str = ""):
    return {"field": bound_field, "css_class": css_class}


@register.inclusion_tag("ui/_alerts.html")
def patient_alerts(patient, compact: bool = False):
    """The patient's alerts (services.safety.patient_alerts): a banner, or `compact`
    one line for a table cell."""
    return {"alerts": alerts_of(patient), "compact": compact}


@register.filter
def field_label(form, name: str) -> str:
    """The label of a form's field, by name."""
    return form.fields[name].label or name
