"""Arrived studies: the exceptions page where schedulers work what reconciliation could
not settle, one study beside its order, the order page's study panel, previews and
the viewer link.

The actions call the services of worklist/services/studies.py (audited there); each
form carries the study's revision as the person saw it, so when someone else acted
first (or more images came) the action is refused with 409 and the study is shown
again as it now is.
"""

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from worklist import selectors
from worklist.models import EXCEPTION_OUTCOMES, Order, Study, StudyOutcome
from worklist.services import images
from worklist.services import studies as study_services
from worklist.ui.forms import (
    StudyAcceptForm,
    StudyCandidateSearchForm,
    StudyCreateOrderForm,
    StudyExceptionFilterForm,
    StudyLinkForm,
    StudyResolveForm,
)

from .common import _found, attempt, requires

EXCEPTIONS_PER_PAGE = 50
WORKS_STUDIES = ("worklist.change_study", "worklist.view_study")

MATCHED_BY = {
    "study_instance_uid": "by its Study Instance UID",
    "accession_number": "by its accession number",
    "patient_date_modality": "by patient ID, study date and modality",
    "linked": "linked by a person",
}


# --- the list ---------------------------------------------------------------------------


@requires(*WORKS_STUDIES)
def study_exceptions(request):
    """Open exceptions, oldest first, by outcome with their counts."""
    form = StudyExceptionFilterForm(request.GET or None)
    outcome = form.cleaned_data["outcome"] if form.is_valid() else ""
    page = Paginator(selectors.study_exceptions(outcome=outcome), EXCEPTIONS_PER_PAGE).get_page(
        request.GET.get("page", 1)
    )
    counts = selectors.study_exception_counts()
    tabs = [("", "All open", sum(counts.values()))]
    tabs += [(o.value, o.label, counts.get(o.value, 0)) for o in EXCEPTION_OUTCOMES]
    if counts.get(StudyOutcome.MATCHED):
        tabs.append(
            (StudyOutcome.MATCHED.value, "Matched, discrepancies", counts[StudyOutcome.MATCHED])
        )
    context = {"page": page, "tabs": tabs, "outcome": outcome}
    return render(request, "ui/studies/exceptions.html", context)


# --- one study ----------------------------------------------------------------------------


@requires("worklist.view_study")
def study_detail(request, pk: int):
    study = _found(selectors.study_get, pk=pk, user=request.user)
    search = StudyCandidateSearchForm(request.GET or None)
    if request.htmx and not request.htmx.boosted:
        if not request.user.has_perm("worklist.change_study"):
            raise Http404
        context = {
            "study": study,
            "search": search,
            "candidates": _candidates(request, study, search),
        }
        return render(request, "ui/studies/_candidates.html", context)
    return _study_page(request, study, search=search)


def _candidates(request, study: Study, search: StudyCandidateSearchForm) -> list[Order]:
    accession_number = search.cleaned_data["accession_number"] if search.is_valid() else ""
    found = selectors.study_link_candidates(
        study=study, accession_number=accession_number.strip(), user=request.user
    )
    return [order for order in found if order.pk != study.order_id]  # not the one it has


def _study_page(
    request, study: Study, *, search=None, bound=None, conflict: str = "", status: int = 200
):
    """The study beside its order with the differences marked, how it was decided,
    its series and discrepancies, and the actions open to this person."""
    order = study.order
    evidence = study.decision.evidence if study.decision else {}
    series = _series_rows(study)
    can_act = study.exception_open and request.user.has_perm("worklist.change_study")
    search = search or StudyCandidateSearchForm()
    stations = selectors.stations_for()
    initial = {"revision": study.revision}
    forms = {
        "link": StudyLinkForm(initial=initial, auto_id="link_%s"),
        "create": StudyCreateOrderForm(
            initial=initial | {"station": study.sending_ae_title},
            stations=stations,
            auto_id="create_%s",
        ),
        "accept": StudyAcceptForm(initial=initial, auto_id="accept_%s"),
        "resolve": StudyResolveForm(initial=initial, auto_id="resolve_%s"),
    } | (bound or {})
    context = {
        "study": study,
        "order": order,
        "procedure": order.requested_procedure if order else None,
        "comparison": _comparison(study, order),
        "evidence": evidence,
        "matched_by": MATCHED_BY.get(evidence.get("matched_by", ""), ""),
        "series": series,
        "series_previews": any(row["preview"] for row in series),
        "can_act": can_act,
        "can_accept": can_act and study.outcome == StudyOutcome.MISMATCH and order is not None,
        "can_create_order": can_act and order is None,
        "search": search,
        "candidates": _candidates(request, study, search) if can_act else [],
        "forms": forms,
        "conflict": conflict,
        "refused": [error for form in (bound or {}).values() for error in form.non_field_errors()],
        "next_exception": _next_exception(study),
        "viewer": bool(settings.RIS_VIEWER_URL),
    }
    return render(request, "ui/studies/detail.html", context, status=status)


# (label, attribute of the study, DICOM keyword of the difference, how to show it)
COMPARED = (
    ("Patient ID", "patient_id", "PatientID", ""),
    ("Issuer of patient ID", "issuer_of_patient_id", "IssuerOfPatientID", ""),
    ("Patient's name", "patient_name", "PatientName", "pn"),
    ("Birth date", "patient_birth_date", "PatientBirthDate", "date"),
    ("Sex", "patient_sex", "PatientSex", ""),
)


def _comparison(study: Study, order: Order | None) -> list[dict]:
    """Rows of the study beside the order: the patient's attributes, each marked when
    reconciliation's rule (demographic_differences) finds them differing, then the
    accession number and what was asked for."""
    differing = (
        {d["attribute"] for d in study_services.demographic_differences(study, order)}
        if order
        else set()
    )
    patient = order.patient if order else None
    rows = [
        {
            "label": label,
            "study": getattr(study, name),
            "order": getattr(patient, name) if patient else None,
            "format": format_,
            "differs": keyword in differing,
        }
        for label, name, keyword, format_ in COMPARED
    ]
    procedure = order.requested_procedure if order else None
    steps = list(procedure.scheduled_procedure_steps.all()) if procedure else []
    rows += [
        {
            "label": "Accession number",
            "study": study.accession_number,
            "order": order.accession_number if order else None,
            "format": "mono",
            "differs": False,
        },
        {
            "label": "Description",
            "study": study.study_description,
            "order": procedure.requested_procedure_description if procedure else None,
            "format": "",
            "differs": False,
        },
        {
            "label": "Modality",
            "study": ", ".join(study.modalities),
            "order": ", ".join(dict.fromkeys(s.modality for s in steps)) if order else None,
            "format": "",
            "differs": False,
        },
        {
            "label": "Date",
            "study": study.study_date,
            "order": timezone.localtime(steps[0].start).date() if steps else None,
            "format": "date",
            "differs": False,
        },
    ]
    return rows


def _series_rows(study: Study) -> list[dict]:
    """Each series with what MPPS reported for it (from the decision's evidence) and
    whether a preview can be shown."""
    evidence = study.decision.evidence if study.decision else {}
    reported = {
        item.get("series_instance_uid"): item.get("reported_by_mpps")
        for item in evidence.get("series", [])
    }
    series = list(study.series.all())
    previewable = (
        selectors.series_with_files(series_ids=[s.pk for s in series])
        if settings.RIS_STORE_FILES
        else set()
    )
    return [
        {
            "series": s,
            "reported": reported.get(s.series_instance_uid),
            "preview": s.pk in previewable,
        }
        for s in series
    ]


def _next_exception(study: Study) -> int | None:
    """The oldest other open exception: where a person working the queue goes next."""
    return (
        Study.objects.filter(exception_open=True)
        .exclude(pk=study.pk)
        .order_by("first_received_at", "pk")
        .values_list("pk", flat=True)
        .first()
    )


# --- actions ------------------------------------------------------------------------------


def _act(request, pk: int, name: str, form, action, done):
    """Validate `form`, run `action(study, cleaned_data)` (a service call), then back to
    the study with `done(result)` as the message; 400 with the errors beside their
    fields, 409 with the study as it now is when someone acted first."""
    study = _found(selectors.study_get, pk=pk, user=request.user)
    if not form.is_valid():
        return _study_page(request, study, bound={name: form}, status=400)
    outcome = attempt(form, action, conflict_on_form=False, study=study, data=form.cleaned_data)
    if outcome.conflict:
        fresh = selectors.study_get(pk=pk, user=request.user)
        return _study_page(request, fresh, conflict=outcome.conflict, status=409)
    if not outcome.done:
        return _study_page(request, study, bound={name: form}, status=outcome.status)
    messages.success(request, done(outcome.result))
    return redirect("ui:study", pk=pk)


def _outcome_text(study: Study) -> str:
    if study.exception_open:
        return f"now {study.outcome}: still open"
    return f"now {study.outcome}"


@require_POST
@requires(*WORKS_STUDIES)
def study_link(request, pk: int):
    def link(study, data):
        order = _found(selectors.order_get, pk=data["order"])
        return study_services.study_link(
            study=study, order=order, user=request.user, revision=data["revision"]
        )

    return _act(
        request,
        pk,
        "link",
        StudyLinkForm(request.POST, auto_id="link_%s"),
        link,
        lambda study: (
            f"Study linked to order {study.order.accession_number}, {_outcome_text(study)}."
        ),
    )


@require_POST
@requires(*WORKS_STUDIES)
def study_create_order(request, pk: int):
    def create(study, data):
        return study_services.study_create_order(
            study=study,
            station=data["station"],
            requested_procedure_description=data["requested_procedure_description"],
            user=request.user,
            revision=data["revision"],
        )

    return _act(
        request,
        pk,
        "create",
        StudyCreateOrderForm(request.POST, stations=selectors.stations_for(), auto_id="create_%s"),
        create,
        lambda order: (
            f"Order {order.accession_number} created for the walk-in and the study linked to it."
        ),
    )


@require_POST
@requires(*WORKS_STUDIES)
def study_accept(request, pk: int):
    def accept(study, data):
        return study_services.study_accept_order_demographics(
            study=study, user=request.user, revision=data["revision"], comment=data["comment"]
        )

    return _act(
        request,
        pk,
        "accept",
        StudyAcceptForm(request.POST, auto_id="accept_%s"),
        accept,
        lambda study: "The order's demographics are accepted as correct; the exception is closed.",
    )


@require_POST
@requires(*WORKS_STUDIES)
def study_resolve(request, pk: int):
    def resolve(study, data):
        return study_services.study_resolve(
            study=study, comment=data["comment"], user=request.user, revision=data["revision"]
        )

    return _act(
        request,
        pk,
        "resolve",
        StudyResolveForm(request.POST, auto_id="resolve_%s"),
        resolve,
        lambda study: "Exception resolved.",
    )


# --- images -----------------------------------------------------------------------------


@requires("worklist.view_study")
def series_preview(request, pk: int):
    """The preview PNG of a series (its middle kept image). Reading it is audited by
    the selector; the browser is told not to keep it."""
    if not settings.RIS_STORE_FILES:
        raise Http404
    instance = _found(selectors.series_preview_instance, pk=pk, user=request.user)
    try:
        png = images.instance_preview(instance=instance, user=request.user)
    except images.PreviewUnavailable as exc:
        return HttpResponse(exc.reason, status=404, content_type="text/plain; charset=utf-8")
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, no-store"
    return response


@requires("worklist.view_study")
def study_viewer(request, pk: int):
    """On to the image viewer (RIS_VIEWER_URL), recorded as an access to the study's
    images."""
    if not settings.RIS_VIEWER_URL:
        raise Http404
    study = _found(selectors.study_for_viewer, pk=pk, user=request.user)
    return redirect(images.viewer_url(study.study_instance_uid))


# --- the order page's panel ----------------------------------------------------------------


def order_study_panels(request, order: Order) -> list[dict]:
    """The studies of an order as its page shows them (nothing without the right to
    see studies): outcome, series with counts, arrival and preview."""
    if not request.user.has_perm("worklist.view_study"):
        return []
    panels = []
    for study in selectors.order_studies(order=order, user=request.user):
        series = _series_rows(study)
        panels.append(
            {
                "study": study,
                "series": series,
                "previews": any(row["preview"] for row in series),
                "viewer": bool(settings.RIS_VIEWER_URL),
            }
        )
    return panels
