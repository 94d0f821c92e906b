"""/api/exports/ and /api/export-projects/: the export workflow for integrations and
scripts. Researchers request and download (their own), compliance officers see every
request and approve or refuse; each endpoint parses, calls export.services, answers.
Service errors answer as everywhere: Invalid 400 (keyed by field), PermissionDenied
403, Conflict 409; an expired export 410."""

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response

from . import selectors, services
from .models import Export, ExportProject
from .serializers import (
    DecisionSerializer,
    ExportRequestSerializer,
    ExportSerializer,
    ProjectSerializer,
)


class MaySeeExports(BasePermission):
    """The actions on one export (decide, download) need only `export.view_export`
    here: who may decide or download is the service's rule."""

    def has_permission(self, request, view):
        return request.user.has_perm("export.view_export")


class ExportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Exports: a researcher sees their own requests, a compliance officer every one."""

    serializer_class = ExportSerializer
    filterset_fields = ["status"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema, made without a user
            return Export.objects.none()
        return selectors.exports_for(self.request.user)

    @extend_schema(request=ExportRequestSerializer, responses={201: ExportSerializer})
    def create(self, request):
        serializer = ExportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with transaction.atomic():
            project = data.get("project") or services.project_create(
                owner=request.user, name=data["project_name"]
            )
            export = services.export_request(
                requester=request.user,
                project=project,
                purpose=data["purpose"],
                cohort=serializer.chosen_cohort(),
                include_worklist=data["include_worklist"],
                include_performed=data["include_performed"],
                include_images=data["include_images"],
                formats=data["formats"],
                options=data["options"],
            )
        return Response(
            ExportSerializer(export, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )

    def _decide(self, request, *, approve: bool):
        serializer = DecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        export = services.export_decide(
            export=self.get_object(),
            officer=request.user,
            approve=approve,
            comment=serializer.validated_data["comment"],
        )
        export = selectors.export_for(pk=export.pk, user=request.user)
        return Response(ExportSerializer(export, context={"request": request}).data)

    @extend_schema(request=DecisionSerializer, responses=ExportSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated, MaySeeExports])
    def approve(self, request, pk=None):
        """Approve a request (compliance officers, not the requester): the build starts."""
        return self._decide(request, approve=True)

    @extend_schema(request=DecisionSerializer, responses=ExportSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated, MaySeeExports])
    def refuse(self, request, pk=None):
        """Refuse a request (compliance officers, not the requester): never built."""
        return self._decide(request, approve=False)

    @extend_schema(
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="ZIP"),
            404: OpenApiResponse(description="Not the requester's export."),
            409: OpenApiResponse(description="Not built yet."),
            410: OpenApiResponse(description="Expired: the file is gone."),
        }
    )
    @action(detail=True, methods=["get"], permission_classes=[IsAuthenticated, MaySeeExports])
    def download(self, request, pk=None):
        """The ZIP, to its requester only; every download is an audit event."""
        export = self.get_object()
        try:
            path = services.export_download(export=export, user=request.user)
        except PermissionDenied as exc:
            raise Http404 from exc
        except services.Gone as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_410_GONE)
        return FileResponse(path.open("rb"), as_attachment=True, filename=f"export-{export.pk}.zip")


class ProjectViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """A researcher's own export projects (the scope of their pseudonyms)."""

    serializer_class = ProjectSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ExportProject.objects.none()
        return selectors.projects_for(self.request.user)

    @extend_schema(request=ProjectSerializer, responses={201: ProjectSerializer})
    def create(self, request):
        serializer = ProjectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = services.project_create(
            owner=request.user,
            name=serializer.validated_data["name"],
            description=serializer.validated_data.get("description", ""),
        )
        return Response(ProjectSerializer(project).data, status=status.HTTP_201_CREATED)
