"""Shapes of the export REST endpoints: they parse and present; the rules (who may
request, approve, download) are in export.services."""

from rest_framework import serializers

from worklist.models import OrderStatus, StudyOutcome

from .deid import Option
from .models import Export, ExportProject
from .selectors import Cohort
from .services import FORMATS


class CohortSerializer(serializers.Serializer):
    """The orders filters of an export; an empty filter does not filter."""

    since = serializers.DateField(required=False, allow_null=True, help_text="Steps from this day.")
    until = serializers.DateField(
        required=False, allow_null=True, help_text="… to this day, included."
    )
    modalities = serializers.ListField(child=serializers.CharField(max_length=16), default=list)
    procedure_codes = serializers.ListField(
        child=serializers.CharField(max_length=64),
        default=list,
        help_text="Code values of the requested procedure.",
    )
    statuses = serializers.ListField(
        child=serializers.ChoiceField(choices=OrderStatus.choices), default=list
    )
    outcomes = serializers.ListField(
        child=serializers.ChoiceField(choices=StudyOutcome.choices),
        default=list,
        help_text="Reconciliation outcome of an arrived study of the order.",
    )

    def validate(self, data):
        since, until = data.get("since"), data.get("until")
        if since and until and until < since:
            raise serializers.ValidationError({"until": ["The period ends before it starts."]})
        return data


class ExportRequestSerializer(serializers.Serializer):
    """POST /api/exports/: a project of one's own (`project`, its ID) or a new one
    (`project_name`), the purpose, the cohort, the parts, formats and options."""

    project = serializers.PrimaryKeyRelatedField(
        queryset=ExportProject.objects.all(), required=False, allow_null=True
    )
    project_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    purpose = serializers.CharField()
    cohort = CohortSerializer(required=False)
    include_worklist = serializers.BooleanField(default=True)
    include_performed = serializers.BooleanField(default=True)
    include_images = serializers.BooleanField(default=False)
    formats = serializers.ListField(
        child=serializers.ChoiceField(choices=FORMATS), default=lambda: list(FORMATS)
    )
    options = serializers.ListField(
        child=serializers.ChoiceField(choices=[(o.value, o.label) for o in Option]),
        default=list,
        help_text="De-identification options besides the Basic Profile (PS3.15 Annex E).",
    )

    def validate(self, data):
        if not data.get("project") and not (data.get("project_name") or "").strip():
            raise serializers.ValidationError(
                {"project_name": ["Give a project (its ID) or the name of a new one."]}
            )
        return data

    def chosen_cohort(self) -> Cohort:
        data = self.validated_data.get("cohort") or {}
        return Cohort(
            since=data.get("since"),
            until=data.get("until"),
            modalities=tuple(dict.fromkeys(m.strip().upper() for m in data.get("modalities", []))),
            procedure_codes=tuple(
                dict.fromkeys(c.strip() for c in data.get("procedure_codes", []))
            ),
            statuses=tuple(data.get("statuses", [])),
            outcomes=tuple(data.get("outcomes", [])),
        )


class DecisionSerializer(serializers.Serializer):
    comment = serializers.CharField(
        help_text="Why: the approval reference, or the reason for refusing."
    )


class ExportSerializer(serializers.ModelSerializer):
    project_name = serializers.CharField(source="project.name", read_only=True)
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)
    decided_by = serializers.CharField(
        source="decided_by.username", read_only=True, allow_null=True, default=None
    )
    progress_percent = serializers.IntegerField(read_only=True)
    download = serializers.SerializerMethodField(
        help_text="Where the requester downloads the ZIP, once ready."
    )

    class Meta:
        model = Export
        fields = [
            "id",
            "project",
            "project_name",
            "requested_by",
            "requested_at",
            "purpose",
            "cohort",
            "include_worklist",
            "include_performed",
            "include_images",
            "formats",
            "options",
            "status",
            "decided_by",
            "decided_at",
            "decision_comment",
            "progress_done",
            "progress_total",
            "progress_percent",
            "started_at",
            "finished_at",
            "expires_at",
            "file_size",
            "file_sha256",
            "counts",
            "downloads",
            "download",
        ]
        read_only_fields = fields

    def get_download(self, export) -> str | None:
        if export.status != "ready":
            return None
        request = self.context.get("request")
        path = f"/api/exports/{export.pk}/download/"
        return request.build_absolute_uri(path) if request else path


class ProjectSerializer(serializers.ModelSerializer):
    class Meta:
        model = ExportProject
        fields = ["id", "name", "description", "created_at"]
        read_only_fields = ["id", "created_at"]
