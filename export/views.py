"""The export pages: researchers request and download, compliance officers decide and
re-identify. Each view parses, calls export.services or export.selectors, renders."""

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db import transaction
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from ris.errors import Conflict, Invalid
from worklist.ui.views.common import requires

from . import selectors, services
from .forms import DecisionForm, ExportRequestForm, ReidentifyForm
from .models import ExportProject, ExportStatus

VIEW = "export.view_export"
REQUEST = "export.add_export"
DECIDE = "export.decide_export"
REIDENTIFY = ("export.view_pseudonym", "export.reidentify_pseudonym")


def _export(request, pk: int):
    try:
        return selectors.export_for(pk=pk, user=request.user)
    except ObjectDoesNotExist as exc:
        raise Http404 from exc


def _form_errors(form, errors: dict) -> None:
    for name, problems in errors.items():
        for problem in problems:
            form.add_error(name if name in form.fields else None, problem)


@requires(VIEW)
def exports(request):
    listed = selectors.exports_for(request.user)
    waiting = selectors.waiting_for_decision() if request.user.has_perm(DECIDE) else []
    return render(request, "export/list.html", {"exports": listed[:200], "waiting": waiting})


@requires(VIEW, REQUEST)
def export_new(request):
    projects = selectors.projects_for(request.user)
    form = ExportRequestForm(request.POST or None, projects=projects)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                project = data["project"] or services.project_create(
                    owner=request.user, name=data["project_name"]
                )
                export = services.export_request(
                    requester=request.user,
                    project=project,
                    purpose=data["purpose"],
                    cohort=form.cohort(),
                    include_worklist=data["include_worklist"],
                    include_performed=data["include_performed"],
                    include_images=data["include_images"],
                    formats=data["formats"],
                    options=data["options"],
                )
        except Invalid as exc:
            _form_errors(form, exc.errors)
        else:
            messages.success(
                request, f"Export {export.pk} requested: a compliance officer decides."
            )
            return redirect("export:detail", pk=export.pk)
    return render(request, "export/new.html", {"form": form}, status=400 if form.errors else 200)


@requires(VIEW)
def export_detail(request, pk: int):
    export = _export(request, pk)
    context = {"export": export, "cohort": selectors.Cohort.from_json(export.cohort)}
    may_decide = (
        request.user.has_perm(DECIDE)
        and export.status == ExportStatus.REQUESTED
        and export.requested_by_id != request.user.pk
    )
    if may_decide:
        context["size"] = selectors.cohort_size(context["cohort"])
        context["decision_form"] = DecisionForm()
    return render(request, "export/detail.html", context)


@requires(VIEW)
def export_progress(request, pk: int):
    return render(request, "export/_progress.html", {"export": _export(request, pk)})


@require_POST
@requires(VIEW, DECIDE)
def export_decide(request, pk: int):
    export = _export(request, pk)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the reason for the decision.")
        return redirect("export:detail", pk=pk)
    approve = form.cleaned_data["decision"] == "approve"
    try:
        export = services.export_decide(
            export=export,
            officer=request.user,
            approve=approve,
            comment=form.cleaned_data["comment"],
        )
    except PermissionDenied as exc:
        return HttpResponse(str(exc), status=403, content_type="text/plain; charset=utf-8")
    except Conflict as exc:
        return HttpResponse(exc.message, status=409, content_type="text/plain; charset=utf-8")
    except Invalid:
        messages.error(request, "Give the reason for the decision.")
        return redirect("export:detail", pk=pk)
    messages.success(request, f"Export {export.pk} {export.get_status_display().lower()}.")
    return redirect("export:detail", pk=pk)


@requires(VIEW)
def export_download(request, pk: int):
    """The ZIP, to its requester only (anyone else: 404); 410 once expired."""
    export = _export(request, pk)
    try:
        path = services.export_download(export=export, user=request.user)
    except PermissionDenied as exc:
        raise Http404 from exc
    except services.Gone as exc:
        return render(request, "export/gone.html", {"export": export, "reason": exc}, status=410)
    except Conflict as exc:
        return HttpResponse(exc.message, status=409, content_type="text/plain; charset=utf-8")
    return FileResponse(path.open("rb"), as_attachment=True, filename=f"export-{export.pk}.zip")


@requires(*REIDENTIFY)
def reidentify(request):
    projects = ExportProject.objects.all()
    form = ReidentifyForm(request.POST or None, projects=projects)
    found = None
    if request.method == "POST" and form.is_valid():
        try:
            found = services.reidentify(
                officer=request.user,
                project=form.cleaned_data["project"],
                pseudonym=form.cleaned_data["pseudonym"],
                reason=form.cleaned_data["reason"],
            )
        except Invalid as exc:
            _form_errors(form, exc.errors)
    return render(request, "export/reidentify.html", {"form": form, "found": found})
