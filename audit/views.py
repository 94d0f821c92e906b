"""The review pages for compliance officers: event search, the per-patient access
report (printable, CSV), unusual access, and the DICOM audit message export.

Every use of the trail is recorded: Audit Log Used for a page, Export for a download,
naming the patient searched for.
"""

import csv
from datetime import timedelta

from django.contrib.auth.decorators import login_required, permission_required
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from . import selectors, services
from .codes import Action, Verb
from .forms import EventSearchForm, PatientReportForm, PeriodForm, days_ago

REVIEW = "audit.view_event"
UNUSUAL_DEFAULT_HOURS = 24


def review_required(view):
    return login_required(permission_required(REVIEW, raise_exception=True)(view))


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _record_use(action: Action, search: selectors.EventSearch, what: str) -> None:
    services.record(
        action,
        verb=Verb.READ,
        patients=search.patients_named(),
        detail=f"{what}: {search.describe()}"[:255],
    )


@review_required
def events(request):
    form = EventSearchForm(request.GET or None)
    page = None
    if form.is_bound and form.is_valid():
        search = form.search()
        page = selectors.event_page(
            search, before=_int(request.GET.get("before")), after=_int(request.GET.get("after"))
        )
        _record_use(Action.AUDIT_LOG_USED, search, "audit search")
    return render(request, "audit/events.html", {"form": form, "page": page})


@review_required
def events_xml(request):
    form = EventSearchForm(request.GET)
    if not form.is_valid():
        return render(request, "audit/events.html", {"form": form}, status=400)
    search = form.search().freeze()
    _record_use(Action.EXPORT, search, "audit export, DICOM audit messages")
    response = StreamingHttpResponse(
        selectors.export_document(search), content_type="application/xml; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="audit-messages.xml"'
    return response


@review_required
def patient_report(request):
    form = PatientReportForm(request.GET or None, initial={"since": days_ago(183).date()})
    report = None
    if form.is_bound and form.is_valid():
        search = form.search()
        report = selectors.patient_report(
            patient_id=search.patient_id,
            issuer=search.issuer,
            since=search.since,
            until=search.until,
            before=_int(request.GET.get("before")),
            after=_int(request.GET.get("after")),
        )
        _record_use(Action.AUDIT_LOG_USED, search, "patient access report")
    return render(
        request,
        "audit/report.html",
        {"form": form, "report": report, "page_size": selectors.PAGE_SIZE},
    )


class _Echo:
    def write(self, value):
        return value


@review_required
def patient_report_csv(request):
    form = PatientReportForm(request.GET)
    if not form.is_valid():
        return render(request, "audit/report.html", {"form": form}, status=400)
    search = form.search().freeze()
    _record_use(Action.EXPORT, search, "patient access report, CSV")
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in selectors.report_rows(search)),
        content_type="text/csv; charset=utf-8",
    )
    name = "".join(ch if ch.isalnum() else "_" for ch in search.patient_id)
    response["Content-Disposition"] = f'attachment; filename="access-report-{name}.csv"'
    return response


@review_required
def unusual(request):
    """The unusual-access findings of a period (by default the last
    UNUSUAL_DEFAULT_HOURS hours): the period's opened records are counted and grouped
    in the database, only what the page shows is read; the two lists go back by
    keyset, each with a cursor of its own."""
    form = PeriodForm(request.GET or None)
    until = timezone.now() + timedelta(minutes=1)
    since = until - timedelta(hours=UNUSUAL_DEFAULT_HOURS)
    if form.is_bound and form.is_valid():
        since = form.cleaned_data.get("since") or since
        until = form.cleaned_data.get("until") or until
    findings = {
        "bursts": selectors.many_patients_in_short_window(since=since, until=until),
        "off_hours": selectors.outside_working_hours_page(
            since=since, until=until, before=_int(request.GET.get("off_before"))
        ),
        "unrelated": selectors.without_order_relationship_page(
            since=since,
            until=until,
            before=_int(request.GET.get("unrelated_before")),
        ),
    }
    services.record(
        Action.AUDIT_LOG_USED,
        verb=Verb.READ,
        detail=f"unusual access review {since:%Y-%m-%d %H:%M}..{until:%Y-%m-%d %H:%M}",
    )
    return render(
        request,
        "audit/unusual.html",
        {"form": form, "since": since, "until": until, **findings},
    )
