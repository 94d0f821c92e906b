"""De-identified exports for research and teaching (issue 16).

A researcher asks for an Export in one of their ExportProjects: a cohort (the orders
filters), the parts and the de-identification options. A compliance officer approves
or refuses it; approval freezes the patients it covers. A task then builds the ZIP,
which the requester may download until it expires. Every patient of a project has one
Pseudonym there, kept with the identity it stands for: only compliance officers read
it (re-identification is audited on its own).
"""

from django.conf import settings
from django.db import models

from .deid import Option


class ExportProject(models.Model):
    """A research or teaching project: the scope of its pseudonyms and new UIDs, which
    stay the same from one of its exports to the next (and differ between projects)."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="export_projects"
    )
    secret = models.CharField(
        max_length=64, editable=False, help_text="Key of the pseudonyms and UIDs (hex)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "export project"

    def __str__(self) -> str:
        return self.name

    @property
    def key(self) -> bytes:
        return bytes.fromhex(self.secret)


class Pseudonym(models.Model):
    """The pseudonym of one patient in one project, and the date shift applied to that
    patient's dates there: the re-identification key. Readable by compliance officers
    only (permission `export.view_pseudonym`)."""

    project = models.ForeignKey(ExportProject, on_delete=models.PROTECT, related_name="pseudonyms")
    pseudonym = models.CharField(max_length=16)
    patient_id = models.CharField(max_length=64)
    issuer_of_patient_id = models.CharField(max_length=64, blank=True)
    date_shift_days = models.IntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "pseudonym"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "patient_id", "issuer_of_patient_id"],
                name="pseudonym_patient_unique",
            ),
            models.UniqueConstraint(fields=["project", "pseudonym"], name="pseudonym_unique"),
        ]
        permissions = [("reidentify_pseudonym", "Can re-identify a pseudonym, giving a reason")]

    def __str__(self) -> str:
        return f"{self.project} {self.pseudonym}"


class ExportStatus(models.TextChoices):
    REQUESTED = "requested", "Waiting for approval"
    REFUSED = "refused", "Refused"
    APPROVED = "approved", "Approved, waiting to be built"
    BUILDING = "building", "Being built"
    READY = "ready", "Ready to download"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"


class Export(models.Model):
    """One export: the request, the decision, the build and the file.

    `cohort` holds the filters as chosen: `since`/`until` (ISO dates of the scheduled
    step), `modalities`, `procedure_codes`, `statuses`, `outcomes` (lists; empty: any).
    `options` lists the de-identification options (export.deid.Option values).
    """

    project = models.ForeignKey(ExportProject, on_delete=models.PROTECT, related_name="exports")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="exports_requested"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    purpose = models.TextField(help_text="What the data is for (study, teaching file...).")
    cohort = models.JSONField(default=dict)
    include_worklist = models.BooleanField("worklist data", default=True)
    include_performed = models.BooleanField("performed procedure steps (MPPS)", default=True)
    include_images = models.BooleanField("images", default=False)
    formats = models.JSONField(default=list, help_text='["csv", "json"] or one of them.')
    options = models.JSONField(default=list)
    status = models.CharField(
        max_length=16, choices=ExportStatus.choices, default=ExportStatus.REQUESTED
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="exports_decided",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.TextField(blank=True)
    subjects = models.ManyToManyField(Pseudonym, blank=True, related_name="exports")
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    file_name = models.CharField(
        max_length=255, blank=True, help_text="Under RIS_DATA_DIR/exports/."
    )
    file_size = models.PositiveBigIntegerField(null=True, blank=True)
    file_sha256 = models.CharField(max_length=64, blank=True)
    counts = models.JSONField(
        default=dict,
        blank=True,
        help_text="patients, orders, performed steps, images written and left out.",
    )
    error = models.TextField(blank=True)
    downloads = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-requested_at", "-id"]
        permissions = [("decide_export", "Can approve or refuse an export")]

    def __str__(self) -> str:
        return f"Export {self.pk} ({self.project})"

    @property
    def option_labels(self) -> list[str]:
        return [Option(o).label for o in self.options]

    @property
    def progress_percent(self) -> int:
        if not self.progress_total:
            return 0
        return min(100, round(100 * self.progress_done / self.progress_total))

    @property
    def counts_display(self) -> list[str]:
        return [f"{value} {name.replace('_', ' ')}" for name, value in self.counts.items()]

    @property
    def is_open(self) -> bool:
        return self.status in (ExportStatus.APPROVED, ExportStatus.BUILDING)
