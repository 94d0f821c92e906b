"""The export workflow: request, decision, build, download, expiry, and
re-identification. Every step is one function here, called by the pages, the admin
and the tasks alike, and each records its audit event in its own transaction.

Audit (PS3.15 A.5 vocabulary): a request is Export/Create, a decision Export/Update
(naming the patients an approval covers), the build and every download Export/Read
naming every patient the ZIP holds, a re-identification Patient Record/Read with the
event type "Use of Restricted Function" and the reason. A refused attempt is recorded
as a failure.
"""

import base64
import hashlib
import hmac
import logging
import secrets
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from audit import services as audit
from audit.codes import Action, EventType, Outcome, Verb
from ris.errors import Conflict, Invalid

from . import selectors
from .deid import Option
from .models import Export, ExportProject, ExportStatus, Pseudonym

logger = logging.getLogger(__name__)

FORMATS = ("csv", "json")
# Dates of a patient move back by 1 to 10 years (whole days) with the Modified Dates
# option; never by 0.
SHIFT_MIN_DAYS, SHIFT_MAX_DAYS = 365, 3650


class Gone(Exception):
    """The export's file was deleted when it expired (HTTP 410)."""


def exports_dir() -> Path:
    return Path(settings.DATA_DIR) / "exports"


def expiry() -> timedelta:
    return timedelta(hours=settings.RIS_EXPORT_EXPIRY_HOURS)


# --- projects and pseudonyms ---------------------------------------------------------


@transaction.atomic
def project_create(*, owner, name: str, description: str = "") -> ExportProject:
    name = name.strip()
    if not name:
        raise Invalid({"project_name": ["Name the project."]})
    if ExportProject.objects.filter(name__iexact=name).exists():
        raise Invalid({"project_name": ["A project of that name exists."]})
    return ExportProject.objects.create(
        name=name, description=description, owner=owner, secret=secrets.token_hex(32)
    )


def _digest(project: ExportProject, *parts: str) -> bytes:
    message = "\x1f".join(parts).encode("utf-8")
    return hmac.new(project.key, message, hashlib.sha256).digest()


def pseudonym_of(project: ExportProject, patient_id: str, issuer: str) -> str:
    """The patient's pseudonym in the project: HMAC-SHA256 of the identity with the
    project's secret, in 12 base32 characters after an R. The same patient and project
    always give the same pseudonym; another project gives another."""
    code = base64.b32encode(_digest(project, "pseudonym", patient_id, issuer)).decode()
    return "R" + code[:12]


def date_shift_of(project: ExportProject, patient_id: str, issuer: str) -> int:
    """How many days the patient's dates move in the project (negative, stable)."""
    number = int.from_bytes(_digest(project, "date shift", patient_id, issuer)[:8], "big")
    return -(SHIFT_MIN_DAYS + number % (SHIFT_MAX_DAYS - SHIFT_MIN_DAYS + 1))


def pseudonyms_for(project: ExportProject, patients: list[tuple[str, str]]) -> list[Pseudonym]:
    """The project's pseudonyms of these patients, made for those who have none yet."""
    known = {
        (p.patient_id, p.issuer_of_patient_id): p
        for p in Pseudonym.objects.filter(project=project, patient_id__in={p for p, _ in patients})
    }
    missing = [
        Pseudonym(
            project=project,
            patient_id=patient_id,
            issuer_of_patient_id=issuer,
            pseudonym=pseudonym_of(project, patient_id, issuer),
            date_shift_days=date_shift_of(project, patient_id, issuer),
        )
        for patient_id, issuer in dict.fromkeys(patients)
        if (patient_id, issuer) not in known
    ]
    Pseudonym.objects.bulk_create(missing, batch_size=1000)
    wanted = set(patients)
    return [
        p for p in [*known.values(), *missing] if (p.patient_id, p.issuer_of_patient_id) in wanted
    ]


def _patients_of(export: Export) -> list[tuple[str, str]]:
    return list(export.subjects.values_list("patient_id", "issuer_of_patient_id"))


# --- request and decision ---------------------------------------------------------


def _validate_request(*, project, requester, purpose, parts: dict, formats, options) -> None:
    errors = {}
    if project.owner_id != requester.pk:
        errors["project"] = ["Exports are requested in one's own projects."]
    if not purpose.strip():
        errors["purpose"] = ["Say what the data is for."]
    if not any(parts.values()):
        errors["parts"] = ["Choose at least one part."]
    if parts.get("include_images") and not settings.RIS_STORE_FILES:
        errors["include_images"] = ["Images are not kept here (RIS_STORE_FILES is off)."]
    tables = parts.get("include_worklist") or parts.get("include_performed")
    if tables and not formats:
        errors["formats"] = ["Choose CSV, JSON or both."]
    if any(f not in FORMATS for f in formats):
        errors["formats"] = ["Formats are csv and json."]
    try:
        [Option(o) for o in options]
    except ValueError:
        errors["options"] = ["Unknown de-identification option."]
    if errors:
        raise Invalid(errors)


@transaction.atomic
def export_request(
    *,
    requester,
    project: ExportProject,
    purpose: str,
    cohort: selectors.Cohort,
    include_worklist: bool = True,
    include_performed: bool = True,
    include_images: bool = False,
    formats=FORMATS,
    options=(),
) -> Export:
    parts = {
        "include_worklist": include_worklist,
        "include_performed": include_performed,
        "include_images": include_images,
    }
    formats, options = list(dict.fromkeys(formats)), list(dict.fromkeys(options))
    _validate_request(
        project=project,
        requester=requester,
        purpose=purpose,
        parts=parts,
        formats=formats,
        options=options,
    )
    export = Export.objects.create(
        project=project,
        requested_by=requester,
        purpose=purpose.strip(),
        cohort=cohort.to_json(),
        formats=formats,
        options=options,
        **parts,
    )
    audit.record(
        Action.EXPORT,
        verb=Verb.CREATE,
        detail=f"export {export.pk} requested in project {project.name}: {cohort.describe()}"[:255],
        user=requester.get_username(),
    )
    return export


def _locked(export: Export) -> Export:
    return Export.objects.select_for_update().get(pk=export.pk)


def export_decide(*, export: Export, officer, approve: bool, comment: str) -> Export:
    """Approve or refuse a request. Approval freezes the patients of the cohort (their
    pseudonyms made now) and sends the build to the task queue."""
    try:
        with transaction.atomic():
            export = _decide(export=export, officer=officer, approve=approve, comment=comment)
    except (PermissionDenied, Conflict, Invalid) as exc:
        audit.record(
            Action.EXPORT,
            verb=Verb.UPDATE,
            outcome=Outcome.MINOR_FAILURE,
            detail=f"export {export.pk} decision refused: {exc}"[:255],
            user=officer.get_username(),
        )
        raise
    if export.status == ExportStatus.APPROVED:
        from .tasks import build_export

        transaction.on_commit(lambda: build_export.delay(export.pk))
    return export


def _decide(*, export: Export, officer, approve: bool, comment: str) -> Export:
    export = _locked(export)
    if not officer.has_perm(selectors.DECIDE):
        raise PermissionDenied("Only compliance officers decide exports.")
    if export.requested_by_id == officer.pk:
        raise PermissionDenied("An export is not approved by the one who asked for it.")
    if export.status != ExportStatus.REQUESTED:
        raise Conflict(f"The export is {export.get_status_display().lower()} already.")
    if not comment.strip():
        raise Invalid({"comment": ["Give the reason for the decision."]})
    export.decided_by, export.decided_at = officer, timezone.now()
    export.decision_comment = comment.strip()
    patients = []
    if approve:
        patients = selectors.cohort_patients(selectors.Cohort.from_json(export.cohort))
        export.subjects.set(pseudonyms_for(export.project, patients))
        export.status = ExportStatus.APPROVED
    else:
        export.status = ExportStatus.REFUSED
    export.save()
    audit.record(
        Action.EXPORT,
        verb=Verb.UPDATE,
        patients=patients,
        detail=(
            f"export {export.pk} {'approved' if approve else 'refused'}: {export.decision_comment}"
        )[:255],
        user=officer.get_username(),
    )
    return export


# --- build ---------------------------------------------------------------------------


def export_build(*, export_id: int) -> Export:
    """Build an approved export into its ZIP (the task's work). A refused or pending
    export is never built (Conflict); one built already is returned as it is, so a task
    delivered twice does no harm; one whose build broke off is built again."""
    from . import build

    with transaction.atomic():
        export = Export.objects.select_for_update().get(pk=export_id)
        if export.status in (ExportStatus.READY, ExportStatus.EXPIRED, ExportStatus.FAILED):
            return export
        if export.status not in (ExportStatus.APPROVED, ExportStatus.BUILDING):
            raise Conflict(f"Export {export.pk} is {export.get_status_display().lower()}.")
        export.status, export.started_at = ExportStatus.BUILDING, timezone.now()
        export.progress_done = export.progress_total = 0
        export.error = ""
        export.save()
    try:
        written = build.write(export, exports_dir())
    except Exception as exc:
        logger.exception("Export %s could not be built", export.pk)
        return _build_failed(export, exc)
    with transaction.atomic():
        export = _locked(export)
        export.status = ExportStatus.READY
        export.finished_at = timezone.now()
        export.expires_at = export.finished_at + expiry()
        export.file_name, export.file_size = written.path.name, written.size
        export.file_sha256, export.counts = written.sha256, written.counts
        export.progress_done = export.progress_total
        export.save()
        audit.record(
            Action.EXPORT,
            verb=Verb.READ,
            patients=_patients_of(export),
            detail=f"export {export.pk} built for {export.requested_by}: {written.summary()}"[:255],
        )
    return export


def _build_failed(export: Export, exc: Exception) -> Export:
    with transaction.atomic():
        export = _locked(export)
        export.status, export.finished_at = ExportStatus.FAILED, timezone.now()
        export.error = f"{type(exc).__name__}: the build stopped; see the service log."
        export.save()
        audit.record(
            Action.EXPORT,
            verb=Verb.READ,
            outcome=Outcome.SERIOUS_FAILURE,
            detail=f"export {export.pk} build failed ({type(exc).__name__})",
        )
    return export


def export_progress(*, export_id: int, done: int, total: int) -> None:
    """Progress of a build, visible on the export's page while it runs."""
    Export.objects.filter(pk=export_id).update(progress_done=done, progress_total=total)


# --- download and expiry -------------------------------------------------------------


def export_download(*, export: Export, user) -> Path:
    """The ZIP to send the requester, recorded as an Export event naming every patient
    it holds. Only the requester downloads; an expired export is Gone."""
    with transaction.atomic():
        export = _locked(export)
        if export.requested_by_id != user.pk:
            raise PermissionDenied("Only the requester downloads an export.")
        if export.status == ExportStatus.EXPIRED or (
            export.status == ExportStatus.READY and export.expires_at <= timezone.now()
        ):
            raise Gone(f"Export {export.pk} expired on {export.expires_at:%Y-%m-%d %H:%M}.")
        if export.status != ExportStatus.READY:
            raise Conflict(f"Export {export.pk} is {export.get_status_display().lower()}.")
        path = exports_dir() / export.file_name
        if not path.is_file():
            raise Gone(f"The file of export {export.pk} is no longer there.")
        export.downloads += 1
        export.save(update_fields=["downloads"])
        audit.record(
            Action.EXPORT,
            verb=Verb.READ,
            patients=_patients_of(export),
            detail=f"export {export.pk} downloaded ({export.file_size} bytes)",
            user=user.get_username(),
        )
    return path


def expire_exports(*, now=None) -> int:
    """Delete the files of the exports past their expiry; the rows stay, as the record
    of what left."""
    now = now or timezone.now()
    expired = 0
    for export in Export.objects.filter(status=ExportStatus.READY, expires_at__lte=now):
        with transaction.atomic():
            export = _locked(export)
            if export.status != ExportStatus.READY:
                continue
            (exports_dir() / export.file_name).unlink(missing_ok=True)
            export.status = ExportStatus.EXPIRED
            export.save(update_fields=["status"])
            expired += 1
    return expired


# --- re-identification ------------------------------------------------------------------


def reidentify(*, officer, project: ExportProject, pseudonym: str, reason: str) -> Pseudonym:
    """Who a pseudonym of the project stands for: compliance officers only, with a
    reason, each time recorded as an access to that patient's record."""
    if not officer.has_perm("export.reidentify_pseudonym"):
        raise PermissionDenied("Only compliance officers re-identify.")
    if not reason.strip():
        raise Invalid({"reason": ["Give the reason for re-identifying."]})
    pseudonym = pseudonym.strip().upper()
    with transaction.atomic():
        found = Pseudonym.objects.filter(project=project, pseudonym=pseudonym).first()
        audit.record(
            Action.PATIENT_RECORD,
            verb=Verb.READ,
            outcome=Outcome.SUCCESS if found else Outcome.MINOR_FAILURE,
            event_type=EventType.USE_OF_RESTRICTED_FUNCTION,
            patients=[(found.patient_id, found.issuer_of_patient_id)] if found else [],
            detail=f"re-identification of {pseudonym} in {project.name}: {reason.strip()}"[:255],
            user=officer.get_username(),
        )
    if found is None:
        raise Invalid({"pseudonym": ["No such pseudonym in this project."]})
    return found
