"""Unscheduled exams: what a modality reported (MPPS) that matched no scheduled step
waits here until a scheduler links it to an order; linking needs what rescheduling
needs."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render

from worklist import selectors
from worklist.services import performed_steps
from worklist.ui.forms import PerformedLinkForm

from .common import _found, _fragment_or_page, attempt, requires

UNSCHEDULED_PER_PAGE = 50


def _link_form_id(performed) -> str:
    return f"exam{performed.pk}_%s"


@requires("worklist.change_scheduledprocedurestep", "worklist.view_scheduledprocedurestep")
def unscheduled_exams(request):
    """The unscheduled exams, oldest first, each with what the modality sent, a form
    to find its order by accession number and the open orders of its patient ID."""
    page = Paginator(selectors.unscheduled_performed_steps(), UNSCHEDULED_PER_PAGE).get_page(
        request.GET.get("page", 1)
    )
    exams = list(page.object_list)
    candidates = selectors.link_candidates(
        patient_ids=[exam.patient_id for exam in exams], user=request.user
    )
    items = [
        {
            "performed": exam,
            "form": PerformedLinkForm(auto_id=_link_form_id(exam)),
            "candidates": [o for o in candidates if o.patient.patient_id == exam.patient_id],
        }
        for exam in exams
    ]
    return render(request, "ui/exams/unscheduled.html", {"page": page, "items": items})


def _order_with_accession(accession_number: str, *, user):
    if not accession_number:
        return None
    found = selectors.order_search(accession_number=accession_number, per_page=1, user=user)
    return next(iter(found), None)


@requires("worklist.change_scheduledprocedurestep", "worklist.view_scheduledprocedurestep")
def performed_link(request, pk: int):
    """Link an unscheduled exam to an order: find the order by its accession number,
    tick the steps the exam performed; the steps and the order then follow the exam."""
    performed = _found(selectors.performed_step_get, pk=pk, user=request.user)
    posted = request.method == "POST"
    if not posted and not performed.unscheduled:
        messages.info(request, f"Exam {performed.performed_procedure_step_id} is linked already.")
        return redirect("ui:unscheduled")
    source = request.POST if posted else request.GET
    accession_number = source.get("accession_number", "").strip()
    order = _order_with_accession(accession_number, user=request.user)
    form = PerformedLinkForm(
        source if posted or accession_number else None,
        order=order,
        linking=posted,
        auto_id=_link_form_id(performed),
    )
    status = 200
    if posted:
        status = 400
        if form.is_valid():
            outcome = attempt(
                form,
                performed_steps.performed_step_link,
                renamed={"scheduled_procedure_steps": "steps"},
                performed_step=performed,
                steps=form.cleaned_data["steps"],
                user=request.user,
            )
            status = outcome.status
            if outcome.done:
                messages.success(
                    request,
                    f"Exam {performed.performed_procedure_step_id} from "
                    f"{performed.performed_station_ae_title} linked to order "
                    f"{order.accession_number}.",
                )
                return redirect("ui:order", pk=order.pk)
    elif form.is_bound:
        form.is_valid()  # bound to GET it shows the order's steps, or why there are none
    context = {"performed": performed, "form": form, "order": order}
    return _fragment_or_page(request, "ui/exams/_link.html", "ui/exams/link.html", context, status)
