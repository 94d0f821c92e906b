"""Display helpers of the arrived-studies pages: the open exceptions counted in the
navigation, and the outcome badges."""

from django import template

from worklist import selectors

register = template.Library()

OUTCOME_CLASS = {
    "MATCHED": "outcome-matched",
    "MISMATCH": "outcome-mismatch",
    "UNSCHEDULED": "outcome-unscheduled",
    "INCOMPLETE": "outcome-incomplete",
}


@register.simple_tag
def open_study_exceptions() -> int:
    """Open study exceptions, all outcomes: a count, no patient data."""
    return sum(selectors.study_exception_counts().values())


@register.filter
def outcome_class(outcome: str) -> str:
    """CSS class of a reconciliation outcome's badge (the text says it too)."""
    return OUTCOME_CLASS.get(outcome, "outcome-pending")
