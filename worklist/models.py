"""The Modality Worklist information model (PS3.4 Annex K, PS3.3 C.30, IHE SWF).

Patient 1-n Order (imaging service request) 1-n RequestedProcedure 1-n
ScheduledProcedureStep, each step booked on a Station. Field names follow the
DICOM keywords they carry, in snake_case, so the mapping to a C-FIND response
exists once and reads plainly.
"""

import ipaddress
from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F
from django.utils import timezone

from . import vr
from .names import search_key as name_search_key


def validate_ae_titles(value: str) -> None:
    """Several AE titles separated by backslashes (a multi-valued AE, PS3.5 6.4)."""
    for title in value.split("\\") if value else []:
        if not title.strip(" "):
            raise ValidationError("Empty AE title in the list.", code="vr_format")
        vr.validate_ae(title)


class Sex(models.TextChoices):
    MALE = "M", "Male"
    FEMALE = "F", "Female"
    OTHER = "O", "Other"


class Priority(models.TextChoices):
    STAT = "STAT"
    HIGH = "HIGH"
    ROUTINE = "ROUTINE"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


class PregnancyStatus(models.IntegerChoices):
    NOT_PREGNANT = 1, "Not pregnant"
    POSSIBLY_PREGNANT = 2, "Possibly pregnant"
    DEFINITELY_PREGNANT = 3, "Definitely pregnant"
    UNKNOWN = 4, "Unknown"


class StepStatus(models.TextChoices):
    SCHEDULED = "SCHEDULED"
    IN_PROGRESS = "IN PROGRESS"
    COMPLETED = "COMPLETED"
    DISCONTINUED = "DISCONTINUED"


class OrderStatus(models.TextChoices):
    # Requested by the hospital system (HL7 ORM/OMI), waiting to be scheduled: an
    # order with a requested procedure and no steps yet; the worklist never offers it.
    REQUESTED = "REQUESTED"
    SCHEDULED = "SCHEDULED"
    IN_PROGRESS = "IN PROGRESS"
    COMPLETED = "COMPLETED"
    DISCONTINUED = "DISCONTINUED"
    CANCELLED = "CANCELLED"


# Steps in these states hold their slot on the station's calendar.
OCCUPYING_STEP_STATUSES = (StepStatus.SCHEDULED, StepStatus.IN_PROGRESS)


class Patient(models.Model):
    patient_id = models.CharField(max_length=64, validators=[vr.validate_lo])
    issuer_of_patient_id = models.CharField(max_length=64, blank=True, validators=[vr.validate_lo])
    patient_name = models.CharField(
        max_length=194,
        validators=[vr.validate_pn],
        help_text="DICOM PN: Family^Given^Middle^Prefix^Suffix, "
        "then =ideographic and =phonetic groups when known.",
    )
    patient_name_search = models.CharField(max_length=64, editable=False, db_index=True)
    patient_birth_date = models.DateField(null=True, blank=True)
    patient_sex = models.CharField(max_length=1, blank=True, choices=Sex.choices)
    other_patient_ids = models.CharField(max_length=64, blank=True, validators=[vr.validate_lo])
    medical_alerts = models.CharField(max_length=64, blank=True, validators=[vr.validate_lo])
    allergies = models.CharField(max_length=64, blank=True, validators=[vr.validate_lo])
    pregnancy_status = models.PositiveSmallIntegerField(
        null=True, blank=True, choices=PregnancyStatus.choices
    )
    patient_weight = models.DecimalField(
        "patient weight (kg)",
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    patient_size = models.DecimalField(
        "patient size (m)",
        max_digits=4,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    additional_patient_history = models.TextField(blank=True, validators=[vr.validate_lt])
    special_needs = models.CharField(max_length=64, blank=True, validators=[vr.validate_lo])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient_id", "issuer_of_patient_id"], name="patient_id_issuer_unique"
            )
        ]
        indexes = [models.Index(fields=["patient_birth_date"])]
        ordering = ["patient_name_search", "patient_id"]

    def __str__(self) -> str:
        issuer = f" ({self.issuer_of_patient_id})" if self.issuer_of_patient_id else ""
        return f"{self.patient_id}{issuer}"

    def save(self, *args, **kwargs):
        self.patient_name_search = name_search_key(self.patient_name)[:64]
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "patient_name_search"}
        super().save(*args, **kwargs)

    def clean(self) -> None:
        """A birth date is not in the future (local calendar); nor before 1900."""
        born = self.patient_birth_date
        if born is None:
            return
        if born > timezone.localdate():
            raise ValidationError({"patient_birth_date": "Must not be in the future."})
        try:
            vr.validate_day(born)
        except ValidationError as exc:
            raise ValidationError({"patient_birth_date": exc.messages}) from exc


class PatientAlias(models.Model):
    """The identifier of a patient merged into another (HL7 A40): still resolves to the
    surviving patient, so an order or a worklist query naming it finds the survivor."""

    patient_id = models.CharField(max_length=64)
    issuer_of_patient_id = models.CharField(max_length=64, blank=True)
    survivor = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="aliases")
    merged_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient_id", "issuer_of_patient_id"], name="patient_alias_unique"
            )
        ]
        verbose_name_plural = "patient aliases"

    def __str__(self) -> str:
        return f"{self.patient_id} (merged into {self.survivor})"


class Procedure(models.Model):
    """An entry of the procedure catalogue: what the UI offers and what fills defaults."""

    code_value = models.CharField(max_length=16, validators=[vr.validate_sh])
    coding_scheme_designator = models.CharField(max_length=16, validators=[vr.validate_sh])
    coding_scheme_version = models.CharField(max_length=16, blank=True, validators=[vr.validate_sh])
    code_meaning = models.CharField(max_length=64, validators=[vr.validate_lo])
    modality = models.CharField(max_length=16, validators=[vr.validate_cs])
    duration_minutes = models.PositiveIntegerField(
        default=15, validators=[MinValueValidator(1), MaxValueValidator(24 * 60)]
    )
    active = models.BooleanField(default=True)
    uses_contrast = models.BooleanField(
        default=False,
        help_text="The exam gives contrast: booking it for a patient with a recorded "
        "contrast allergy needs an acknowledgement.",
    )
    preparation_instructions = models.TextField(
        blank=True, help_text="Printed on the appointment letter."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["code_value", "coding_scheme_designator"], name="procedure_code_unique"
            )
        ]
        ordering = ["modality", "code_meaning"]

    def __str__(self) -> str:
        return f"{self.code_meaning} ({self.coding_scheme_designator} {self.code_value})"

    def as_code_item(self) -> dict:
        item = {
            "code_value": self.code_value,
            "coding_scheme_designator": self.coding_scheme_designator,
            "code_meaning": self.code_meaning,
        }
        if self.coding_scheme_version:
            item["coding_scheme_version"] = self.coding_scheme_version
        return item


class Station(models.Model):
    """A room and its modality: what the calendar books against.

    Its AE title is also the calling AE title of the modality in that room.
    """

    scheduled_station_ae_title = models.CharField(
        "AE title", max_length=16, unique=True, validators=[vr.validate_ae]
    )
    scheduled_station_name = models.CharField(
        "station name", max_length=16, blank=True, validators=[vr.validate_sh]
    )
    modality = models.CharField(max_length=16, validators=[vr.validate_cs])
    scheduled_procedure_step_location = models.CharField(
        "location", max_length=16, blank=True, validators=[vr.validate_sh]
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["modality", "scheduled_station_ae_title"]

    def __str__(self) -> str:
        return self.scheduled_station_ae_title

    def is_open(self, start: datetime, end: datetime) -> bool:
        """True when [start, end) lies inside one opening interval of the station, read
        in local time. A station without opening hours is always open."""
        hours = list(self.opening_hours.all())
        if not hours:
            return True
        tz = timezone.get_default_timezone()
        local_start = start.astimezone(tz)
        start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
        for interval in hours:
            if interval.weekday != local_start.weekday():
                continue
            opens, closes = interval.bounds(local_start.date(), tz)
            if opens <= start_utc and end_utc <= closes:
                return True
        return False


class OpeningHours(models.Model):
    """One opening interval of a station on a weekday, in local time.

    A station without any interval is open around the clock. `closes` of 00:00 means
    midnight at the end of the day.
    """

    class Weekday(models.IntegerChoices):
        MONDAY = 0
        TUESDAY = 1
        WEDNESDAY = 2
        THURSDAY = 3
        FRIDAY = 4
        SATURDAY = 5
        SUNDAY = 6

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="opening_hours")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens = models.TimeField()
    closes = models.TimeField()

    class Meta:
        ordering = ["station", "weekday", "opens"]
        verbose_name_plural = "opening hours"

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}-{self.closes:%H:%M}"

    def bounds(self, day, tz) -> tuple[datetime, datetime]:
        """When the interval opens and closes on `day` (local in `tz`), in UTC."""
        opens = datetime.combine(day, self.opens, tzinfo=tz)
        close_day = day + timedelta(days=1) if self.closes == time(0) else day
        closes = datetime.combine(close_day, self.closes, tzinfo=tz)
        return opens.astimezone(UTC), closes.astimezone(UTC)

    @property
    def closes_minutes(self) -> int:
        """Minutes after the day's midnight it closes at (00:00 is the day's end)."""
        if self.closes == time(0):
            return 24 * 60
        return self.closes.hour * 60 + self.closes.minute

    @property
    def opens_minutes(self) -> int:
        return self.opens.hour * 60 + self.opens.minute

    def overlaps(self, other: "OpeningHours") -> bool:
        return (
            self.weekday == other.weekday
            and self.opens_minutes < other.closes_minutes
            and other.opens_minutes < self.closes_minutes
        )

    def clean(self) -> None:
        """Closes after it opens (00:00: midnight at the end of the day), and overlaps
        no other interval of its station stored on that weekday (unless it is checked
        with its station's others as a whole, `checked_as_a_whole`: the admin's inline
        forms replacing them together)."""
        if self.opens is None or self.closes is None or self.weekday is None:
            return
        siblings = []
        if self.station_id is not None and not getattr(self, "checked_as_a_whole", False):
            siblings = list(
                OpeningHours.objects.filter(
                    station_id=self.station_id, weekday=self.weekday
                ).exclude(pk=self.pk)
            )
        errors = OpeningHours.errors_of([*siblings, self])
        if errors:
            raise ValidationError(errors.get(str(len(siblings)), errors.get("__all__")))

    @classmethod
    def errors_of(cls, intervals: list["OpeningHours"]) -> dict:
        """What is wrong with the opening hours of one station, taken as a whole: more
        than MAX_OPENING_HOURS, an interval closing before it opens, one overlapping an
        earlier one. Keyed by the interval's index in the list ({"1": {"opens":
        [...]}}), or "__all__"; empty when they are right. Every channel (the API, the
        admin's forms, the services) checks with this."""
        if len(intervals) > MAX_OPENING_HOURS:
            return {"__all__": [f"At most {MAX_OPENING_HOURS} opening intervals per station."]}
        errors = {}
        for index, interval in enumerate(intervals):
            if interval.closes_minutes <= interval.opens_minutes:
                errors[str(index)] = {"closes": [CLOSES_BEFORE_OPENS]}
                continue
            for other in intervals[:index]:
                if interval.overlaps(other):
                    errors[str(index)] = {"opens": [f"Overlaps {other}."]}
                    break
        return errors


CLOSES_BEFORE_OPENS = "Must be after 'opens' (use 00:00 for midnight)."
# Seven weekdays with a few intervals each are plenty; more is a mistake or an abuse.
MAX_OPENING_HOURS = 50


class Order(models.Model):
    """An imaging service request."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="orders")
    accession_number = models.CharField(max_length=16, unique=True, validators=[vr.validate_sh])
    referring_physician_name = models.CharField(
        max_length=194, blank=True, validators=[vr.validate_pn]
    )
    requesting_physician = models.CharField(max_length=194, blank=True, validators=[vr.validate_pn])
    requesting_service = models.CharField(max_length=64, blank=True, validators=[vr.validate_lo])
    reason_for_the_requested_procedure = models.CharField(
        max_length=64, blank=True, validators=[vr.validate_lo]
    )
    imaging_service_request_comments = models.TextField(blank=True, validators=[vr.validate_lt])
    status = models.CharField(
        max_length=16, choices=OrderStatus.choices, default=OrderStatus.SCHEDULED, db_index=True
    )
    cancel_reason = models.CharField(max_length=64, blank=True)
    alert_acknowledgements = models.JSONField(
        default=list,
        blank=True,
        help_text="Safety alerts acknowledged when booking: code, text, user, time.",
    )
    placer_order_number = models.CharField(
        max_length=64,
        blank=True,
        db_index=True,
        help_text="The ordering system's number of the order (HL7 ORC-2), when it came from there.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.accession_number

    @staticmethod
    def status_from(step_statuses: set[str]) -> str:
        """A (non-cancelled) order's status from the statuses of its steps: in progress
        while one is, scheduled while one is still to be done, completed when one was
        done, else discontinued."""
        if StepStatus.IN_PROGRESS in step_statuses:
            return OrderStatus.IN_PROGRESS
        if StepStatus.SCHEDULED in step_statuses:
            return OrderStatus.SCHEDULED
        if StepStatus.COMPLETED in step_statuses:
            return OrderStatus.COMPLETED
        return OrderStatus.DISCONTINUED

    @property
    def requested_procedure(self) -> "RequestedProcedure | None":
        """The order's requested procedure (the API books one per order); reads the
        prefetched list when there is one."""
        procedures = list(self.requested_procedures.all())
        return procedures[0] if procedures else None


class RequestedProcedure(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="requested_procedures")
    requested_procedure_id = models.CharField(max_length=16, validators=[vr.validate_sh])
    requested_procedure_description = models.CharField(
        max_length=64, blank=True, validators=[vr.validate_lo]
    )
    requested_procedure_code_sequence = models.JSONField(
        default=list,
        blank=True,
        validators=[vr.validate_code_sequence],
        help_text="Code items as sent: code_value, coding_scheme_designator, code_meaning.",
    )
    procedure = models.ForeignKey(
        Procedure,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Catalogue entry the code matched, if any.",
    )
    study_instance_uid = models.CharField(max_length=64, unique=True, validators=[vr.validate_ui])
    requested_procedure_priority = models.CharField(
        max_length=16, choices=Priority.choices, default=Priority.ROUTINE
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["order", "requested_procedure_id"], name="requested_procedure_id_unique"
            )
        ]
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.requested_procedure_id


class ScheduledProcedureStep(models.Model):
    requested_procedure = models.ForeignKey(
        RequestedProcedure, on_delete=models.CASCADE, related_name="scheduled_procedure_steps"
    )
    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="steps")
    scheduled_procedure_step_id = models.CharField(
        max_length=16, unique=True, validators=[vr.validate_sh]
    )
    modality = models.CharField(max_length=16, validators=[vr.validate_cs])
    scheduled_station_name = models.CharField(
        max_length=16, blank=True, validators=[vr.validate_sh]
    )
    scheduled_procedure_step_location = models.CharField(
        max_length=16, blank=True, validators=[vr.validate_sh]
    )
    start = models.DateTimeField("scheduled start")
    end = models.DateTimeField("scheduled end", editable=False)
    duration_minutes = models.PositiveIntegerField(
        default=15, validators=[MinValueValidator(1), MaxValueValidator(24 * 60)]
    )
    scheduled_performing_physician_name = models.CharField(
        max_length=194, blank=True, validators=[vr.validate_pn]
    )
    scheduled_procedure_step_description = models.CharField(
        max_length=64, blank=True, validators=[vr.validate_lo]
    )
    scheduled_protocol_code_sequence = models.JSONField(
        default=list, blank=True, validators=[vr.validate_code_sequence]
    )
    requested_contrast_agent = models.CharField(
        max_length=64, blank=True, validators=[vr.validate_lo]
    )
    pre_medication = models.CharField(max_length=64, blank=True, validators=[vr.validate_lo])
    comments_on_the_scheduled_procedure_step = models.TextField(
        blank=True, validators=[vr.validate_lt]
    )
    scheduled_procedure_step_status = models.CharField(
        max_length=16, choices=StepStatus.choices, default=StepStatus.SCHEDULED
    )
    additional_station_ae_titles = models.CharField(
        max_length=255,
        blank=True,
        validators=[validate_ae_titles],
        help_text="Further AE titles that may perform the step, separated by backslashes "
        "(Scheduled Station AE Title is multi-valued); the step is booked on the station.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["start", "id"]
        permissions = [
            (
                "allow_patient_overlap",
                "Can book a patient into exams that overlap in time (allow_patient_overlap)",
            )
        ]
        indexes = [
            models.Index(fields=["station", "start"], name="sps_station_start"),
            models.Index(fields=["modality", "start"], name="sps_modality_start"),
            models.Index(
                fields=["scheduled_procedure_step_status", "start"], name="sps_status_start"
            ),
            # The few steps offered to further AE titles, so the worklist query of a
            # modality finds them without scanning the others.
            models.Index(
                fields=["start"],
                name="sps_additional_ae_start",
                condition=models.Q(additional_station_ae_titles__gt=""),
            ),
        ]

    def __str__(self) -> str:
        return self.scheduled_procedure_step_id

    def save(self, *args, **kwargs):
        self.end = self.start + timedelta(minutes=self.duration_minutes)
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "end"}
        super().save(*args, **kwargs)

    @property
    def scheduled_station_ae_title(self) -> str:
        return self.station.scheduled_station_ae_title

    @property
    def scheduled_station_ae_titles(self) -> list[str]:
        """The station's AE title, then the additional ones: the values of the
        multi-valued Scheduled Station AE Title (0040,0001)."""
        extra = [t for t in self.additional_station_ae_titles.split("\\") if t]
        return [self.station.scheduled_station_ae_title, *extra]


class IdentifierCounter(models.Model):
    """Monotonic counters behind generated accession numbers and procedure/step IDs."""

    name = models.CharField(max_length=32, unique=True)
    value = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


class OrderEvent(models.Model):
    """One entry of an order's history, written by the booking services: what the
    order detail page shows as booked, rescheduled, started, completed..."""

    class Kind(models.TextChoices):
        REQUESTED = "requested", "Requested by the hospital system"
        BOOKED = "booked", "Booked"
        RESCHEDULED = "rescheduled", "Rescheduled"
        STARTED = "started", "Started"
        COMPLETED = "completed", "Completed"
        DISCONTINUED = "discontinued", "Discontinued"
        CANCELLED = "cancelled", "Cancelled"
        PERFORMED = "performed", "Performed step reported"
        LINKED = "linked", "Unscheduled exam linked"
        STUDY = "study", "Study reconciled"
        STUDY_RESOLVED = "study resolved", "Study exception worked"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["order", "at"], name="order_event_order_at")]

    def __str__(self) -> str:
        return f"{self.order_id} {self.kind} {self.at:%Y-%m-%d %H:%M}"


def validate_ip_networks(value: str) -> None:
    """IP addresses or networks (CIDR), separated by commas, spaces or new lines."""
    for item in ip_network_list(value):
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError as exc:
            raise ValidationError(f"{item!r} is not an IP address or network.") from exc


def ip_network_list(value: str) -> list[str]:
    return [item for item in value.replace(",", " ").split() if item]


class Modality(models.Model):
    """A known modality: a calling AE title allowed to query the worklist, the
    addresses it may call from and the stations whose steps it sees.

    A station's AE title is a known modality without a record here: it sees its own
    station's steps, from any address. A record adds address limits, more stations,
    a wider scope or the character set of its responses.
    """

    class CharacterSet(models.TextChoices):
        """Specific Character Set (0008,0005) values a response can be encoded in."""

        UTF_8 = "ISO_IR 192", "Unicode in UTF-8 (ISO_IR 192)"
        DEFAULT = "ISO_IR 6", "ASCII only, the default repertoire (no Specific Character Set)"
        LATIN_1 = "ISO_IR 100", "Latin-1, Western Europe (ISO_IR 100)"
        LATIN_2 = "ISO_IR 101", "Latin-2, Central Europe (ISO_IR 101)"
        LATIN_3 = "ISO_IR 109", "Latin-3 (ISO_IR 109)"
        LATIN_4 = "ISO_IR 110", "Latin-4 (ISO_IR 110)"
        LATIN_5 = "ISO_IR 148", "Latin-5, Turkish (ISO_IR 148)"
        LATIN_9 = "ISO_IR 203", "Latin-9 (ISO_IR 203)"
        CYRILLIC = "ISO_IR 144", "Cyrillic (ISO_IR 144)"
        ARABIC = "ISO_IR 127", "Arabic (ISO_IR 127)"
        GREEK = "ISO_IR 126", "Greek (ISO_IR 126)"
        HEBREW = "ISO_IR 138", "Hebrew (ISO_IR 138)"
        THAI = "ISO_IR 166", "Thai (ISO_IR 166)"
        JAPANESE = "ISO 2022 IR 6\\ISO 2022 IR 87", "Japanese, JIS X 0208 (ISO 2022 IR 87)"
        JAPANESE_KATAKANA = (
            "ISO 2022 IR 13\\ISO 2022 IR 87",
            "Japanese, JIS X 0201 and JIS X 0208 (ISO 2022 IR 13, IR 87)",
        )
        KOREAN = "ISO 2022 IR 6\\ISO 2022 IR 149", "Korean, KS X 1001 (ISO 2022 IR 149)"
        CHINESE = "GB18030", "Chinese (GB18030)"

    class Kind(models.TextChoices):
        MODALITY = "MODALITY", "Modality"
        PACS = "PACS", "PACS (image archive)"

    ae_title = models.CharField("AE title", max_length=16, unique=True, validators=[vr.validate_ae])
    kind = models.CharField(
        max_length=16,
        choices=Kind.choices,
        default=Kind.MODALITY,
        help_text="A PACS sends and announces studies (C-STORE, IAN); it sees the worklist "
        "of the stations listed for it only, usually none.",
    )
    description = models.CharField(max_length=64, blank=True)
    allowed_addresses = models.TextField(
        blank=True,
        validators=[validate_ip_networks],
        help_text="IP addresses or networks (e.g. 10.1.2.0/24) it may call from, separated "
        "by commas or new lines; empty: any address.",
    )
    stations = models.ManyToManyField(
        Station,
        blank=True,
        related_name="modalities",
        help_text="Stations whose scheduled steps it sees.",
    )
    sees_all_stations = models.BooleanField(
        default=False,
        help_text="Wider scope: sees the steps of every station (e.g. a worklist broker).",
    )
    character_set = models.CharField(
        max_length=64,
        choices=CharacterSet.choices,
        default=CharacterSet.UTF_8,
        help_text="Character set of its worklist responses; characters outside it are "
        "replaced (see the README).",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["ae_title"]
        verbose_name = "known modality"
        verbose_name_plural = "known modalities"

    def __str__(self) -> str:
        return self.ae_title


class PerformedStepStatus(models.TextChoices):
    """Performed Procedure Step Status (0040,0252)."""

    IN_PROGRESS = "IN PROGRESS"
    COMPLETED = "COMPLETED"
    DISCONTINUED = "DISCONTINUED"


FINAL_PERFORMED_STATUSES = (PerformedStepStatus.COMPLETED, PerformedStepStatus.DISCONTINUED)


class PerformedProcedureStep(models.Model):
    """A Modality Performed Procedure Step (PS3.4 Annex F) as the modality reported it.

    `attributes` holds the whole SOP instance as DICOM JSON (PS3.18 F.2), the N-CREATE
    attribute list with every N-SET merged in; the columns beside it are read from it
    on each change, for listing, filtering and the order page. A step linked to no
    scheduled step is `unscheduled`: a scheduler links it to an order.
    """

    sop_instance_uid = models.CharField(max_length=64, unique=True, validators=[vr.validate_ui])
    calling_ae_title = models.CharField(
        max_length=16, help_text="The AE title that created it (N-CREATE)."
    )
    performed_procedure_step_id = models.CharField(max_length=16)
    performed_procedure_step_status = models.CharField(
        max_length=16, choices=PerformedStepStatus.choices, default=PerformedStepStatus.IN_PROGRESS
    )
    performed_station_ae_title = models.CharField(max_length=16, db_index=True)
    performed_station_name = models.CharField(max_length=16, blank=True)
    performed_location = models.CharField(max_length=16, blank=True)
    modality = models.CharField(max_length=16)
    study_id = models.CharField(max_length=16, blank=True)
    start = models.DateTimeField("performed start", null=True, blank=True)
    end = models.DateTimeField("performed end", null=True, blank=True)
    performed_procedure_step_description = models.CharField(max_length=64, blank=True)
    performed_procedure_type_description = models.CharField(max_length=64, blank=True)
    comments_on_the_performed_procedure_step = models.TextField(blank=True)
    procedure_code_sequence = models.JSONField(default=list, blank=True)
    performed_protocol_code_sequence = models.JSONField(default=list, blank=True)
    performed_procedure_step_discontinuation_reason_code_sequence = models.JSONField(
        default=list, blank=True
    )
    performed_series_sequence = models.JSONField(
        default=list,
        blank=True,
        help_text="One item per series: UID, description, protocol, operators, "
        "performing physician, retrieve AE title, image and non-image counts.",
    )
    radiation_dose = models.JSONField(
        default=dict, blank=True, help_text="Radiation Dose module attributes, when sent."
    )
    # Patient as the modality sent it; `matched_patient` is the record it belongs to.
    patient_name = models.CharField(max_length=194, blank=True)
    patient_id = models.CharField(max_length=64, blank=True, db_index=True)
    issuer_of_patient_id = models.CharField(max_length=64, blank=True)
    patient_birth_date = models.DateField(null=True, blank=True)
    patient_sex = models.CharField(max_length=16, blank=True)
    matched_patient = models.ForeignKey(
        Patient,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="performed_procedure_steps",
    )
    study_instance_uid = models.CharField(max_length=64, blank=True, db_index=True)
    accession_number = models.CharField(max_length=16, blank=True, db_index=True)
    scheduled_procedure_steps = models.ManyToManyField(
        ScheduledProcedureStep, blank=True, related_name="performed_procedure_steps"
    )
    unscheduled = models.BooleanField(
        default=False, help_text="Linked to no scheduled step: waits for a scheduler."
    )
    match_note = models.CharField(
        max_length=255, blank=True, help_text="Why it matched no scheduled step, if it did not."
    )
    attributes = models.JSONField(default=dict, help_text="The SOP instance as DICOM JSON.")
    create_digest = models.CharField(
        max_length=64, editable=False, help_text="Digest of the N-CREATE, to know a retry."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["created_at"],
                name="pps_unscheduled_created",
                condition=models.Q(unscheduled=True),
            ),
            models.Index(fields=["start"], name="pps_start"),
        ]
        verbose_name = "performed procedure step"

    def __str__(self) -> str:
        return f"{self.performed_procedure_step_id} ({self.performed_procedure_step_status})"

    @property
    def is_final(self) -> bool:
        return self.performed_procedure_step_status in FINAL_PERFORMED_STATUSES


# --- arriving studies (issue 11) -------------------------------------------------------


class StudyOutcome(models.TextChoices):
    """What reconciling an arrived study against the orders decided."""

    MATCHED = "MATCHED"
    MISMATCH = "MISMATCH"
    UNSCHEDULED = "UNSCHEDULED"
    INCOMPLETE = "INCOMPLETE"


# Outcomes a person has to look at (the Study exceptions page).
EXCEPTION_OUTCOMES = (StudyOutcome.MISMATCH, StudyOutcome.UNSCHEDULED, StudyOutcome.INCOMPLETE)


class ArrivalSource(models.TextChoices):
    """How the RIS learnt of an instance or a study."""

    STORE = "C-STORE", "Stored here (C-STORE)"
    IAN = "IAN", "Announced by the archive (IAN)"
    POLL = "C-FIND", "Found on the PACS (C-FIND)"


class Study(models.Model):
    """A study as it arrived: the patient and study attributes of its first instance
    (or of the archive's answer), counts, when and from whom, and where reconciliation
    stands.

    `revision` grows with every change that calls for a new decision (an instance
    more, a link by hand); `reconcile_after` is when the current revision is due for
    one (None: decided). Each decision is a StudyDecision; `decision` is the latest.
    """

    study_instance_uid = models.CharField(max_length=64, unique=True, validators=[vr.validate_ui])
    # Patient level, as the sender encoded it (decoded from its character set).
    patient_id = models.CharField(max_length=64, blank=True, db_index=True)
    issuer_of_patient_id = models.CharField(max_length=64, blank=True)
    patient_name = models.CharField(max_length=194, blank=True)
    patient_birth_date = models.DateField(null=True, blank=True)
    patient_sex = models.CharField(max_length=16, blank=True)
    # Study level.
    accession_number = models.CharField(max_length=16, blank=True, db_index=True)
    study_id = models.CharField(max_length=16, blank=True)
    study_date = models.DateField(null=True, blank=True)
    study_time = models.TimeField(null=True, blank=True)
    study_description = models.CharField(max_length=64, blank=True)
    referring_physician_name = models.CharField(max_length=194, blank=True)
    modalities_in_study = models.CharField(
        max_length=64, blank=True, help_text="Modalities of its series, backslash-separated."
    )
    number_of_study_related_series = models.PositiveIntegerField(default=0)
    number_of_study_related_instances = models.PositiveIntegerField(
        default=0, help_text="Instances known here (stored, announced or found)."
    )
    reported_instances = models.PositiveIntegerField(
        null=True, blank=True, help_text="Number of instances the PACS reported, if it did."
    )
    source = models.CharField(max_length=8, choices=ArrivalSource.choices)
    sending_ae_title = models.CharField(
        max_length=16, blank=True, help_text="Calling AE title of the first sender."
    )
    first_received_at = models.DateTimeField(default=timezone.now)
    last_received_at = models.DateTimeField(default=timezone.now)
    revision = models.PositiveIntegerField(default=1)
    reconcile_after = models.DateTimeField(null=True, blank=True)
    order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="studies"
    )
    linked_by_hand = models.BooleanField(
        default=False, help_text="Its order was chosen by a person, not by matching."
    )
    decision = models.ForeignKey(
        "StudyDecision", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    outcome = models.CharField(
        max_length=16, blank=True, choices=StudyOutcome.choices, help_text="Empty until decided."
    )
    exception_open = models.BooleanField(
        default=False, help_text="Waits for a person: an exception outcome or a discrepancy."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_received_at", "-id"]
        verbose_name_plural = "studies"
        indexes = [
            models.Index(
                fields=["reconcile_after"],
                name="study_reconcile_due",
                condition=models.Q(reconcile_after__isnull=False),
            ),
            models.Index(
                fields=["outcome", "last_received_at"],
                name="study_open_exception",
                condition=models.Q(exception_open=True),
            ),
            models.Index(fields=["study_date", "patient_id"], name="study_date_patient"),
        ]

    def __str__(self) -> str:
        return self.study_instance_uid

    @property
    def modalities(self) -> list[str]:
        return [m for m in self.modalities_in_study.split("\\") if m]


class Series(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    series_instance_uid = models.CharField(max_length=64, validators=[vr.validate_ui])
    series_number = models.IntegerField(null=True, blank=True)
    modality = models.CharField(max_length=16, blank=True)
    series_description = models.CharField(max_length=64, blank=True)
    body_part_examined = models.CharField(max_length=16, blank=True)
    protocol_name = models.CharField(max_length=64, blank=True)
    station_name = models.CharField(max_length=16, blank=True)
    series_date = models.DateField(null=True, blank=True)
    series_time = models.TimeField(null=True, blank=True)
    performed_procedure_step_id = models.CharField(
        max_length=16, blank=True, help_text="Performed Procedure Step ID (0040,0253)."
    )
    number_of_series_related_instances = models.PositiveIntegerField(default=0)
    reported_instances = models.PositiveIntegerField(
        null=True, blank=True, help_text="Number of instances the PACS reported, if it did."
    )
    sending_ae_title = models.CharField(max_length=16, blank=True)
    first_received_at = models.DateTimeField(default=timezone.now)
    last_received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["study", F("series_number").asc(nulls_last=True), "first_received_at", "id"]
        verbose_name_plural = "series"
        constraints = [
            models.UniqueConstraint(
                fields=["study", "series_instance_uid"], name="series_uid_in_study_unique"
            )
        ]

    def __str__(self) -> str:
        return self.series_instance_uid

    @property
    def instance_count(self) -> int:
        """Instances known here, or the number the PACS reported when that is more."""
        return max(self.number_of_series_related_instances, self.reported_instances or 0)


class Instance(models.Model):
    """One SOP instance: stored here, announced by the archive (IAN) or both.

    `differs` holds the identifying attributes in which this instance differs from
    its study (usually none), so the first copy's values are known when a second copy
    arrives."""

    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="instances")
    sop_instance_uid = models.CharField(max_length=64, unique=True, validators=[vr.validate_ui])
    sop_class_uid = models.CharField(max_length=64)
    instance_number = models.IntegerField(null=True, blank=True)
    transfer_syntax_uid = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=8, choices=ArrivalSource.choices)
    sending_ae_title = models.CharField(max_length=16, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    instance_availability = models.CharField(
        max_length=16, blank=True, help_text="ONLINE, NEARLINE, OFFLINE or UNAVAILABLE (IAN)."
    )
    retrieve_ae_title = models.CharField(max_length=64, blank=True)
    file = models.CharField(
        max_length=255, blank=True, help_text="Path under RIS_DATA_DIR, when files are kept."
    )
    file_size = models.PositiveBigIntegerField(null=True, blank=True)
    differs = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["series", F("instance_number").asc(nulls_last=True), "id"]

    def __str__(self) -> str:
        return self.sop_instance_uid


class StudyDiscrepancy(models.Model):
    """An identifying attribute that differs between what the RIS holds and what
    arrived: a second copy of an instance unlike the first, or an instance unlike the
    rest of its study. Kept and shown with the study's exceptions."""

    class Kind(models.TextChoices):
        DUPLICATE = "duplicate", "Second copy differs from the first"
        INCONSISTENT = "inconsistent", "Instance differs from its study"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="discrepancies")
    sop_instance_uid = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    attribute = models.CharField(max_length=64, help_text="DICOM keyword.")
    recorded = models.CharField(max_length=255, blank=True, help_text="Value held here.")
    received = models.CharField(max_length=255, blank=True, help_text="Value that arrived.")
    sending_ae_title = models.CharField(max_length=16, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    acknowledged = models.BooleanField(default=False, help_text="Seen by a person.")

    class Meta:
        ordering = ["study", "received_at", "id"]
        verbose_name_plural = "study discrepancies"

    def __str__(self) -> str:
        return f"{self.sop_instance_uid} {self.attribute}"


class StudyDecision(models.Model):
    """One reconciliation of a study at one revision: the outcome and the evidence
    used, and how a person worked it when it was an exception.

    `evidence` (JSON): how the order was found (`matched_by`), the candidates
    considered, each demographic difference (`differences`: attribute, study, order),
    the series with their counts beside what MPPS reported (`series`), expected and
    received instance counts, and open discrepancies. One decision per revision is a
    database constraint: two workers deciding the same study record one outcome."""

    class Resolution(models.TextChoices):
        LINKED = "linked", "Linked to an order"
        ORDER_CREATED = "order created", "Order created for a walk-in"
        DEMOGRAPHICS_ACCEPTED = "accepted", "Order's demographics accepted"
        RESOLVED = "resolved", "Resolved with a comment"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="decisions")
    revision = models.PositiveIntegerField()
    outcome = models.CharField(max_length=16, choices=StudyOutcome.choices)
    order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="study_decisions"
    )
    evidence = models.JSONField(default=dict, blank=True)
    decided_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when decided by the reconciliation task.",
    )
    resolution = models.CharField(max_length=16, blank=True, choices=Resolution.choices)
    resolution_comment = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["study", "revision"]
        constraints = [
            models.UniqueConstraint(fields=["study", "revision"], name="study_decision_once")
        ]

    def __str__(self) -> str:
        return f"{self.study_id}@{self.revision} {self.outcome}"
