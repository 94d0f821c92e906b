"""REST endpoints: parse with a serializer, call a service or selector, shape the answer."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from ris.errors import Invalid
from ris.permissions import ChangePermission, ModelPermissions
from worklist import selectors
from worklist.models import Modality, Procedure
from worklist.services import availability
from worklist.services.booking import order_cancel, order_create, order_update, step_update
from worklist.services.patients import patient_create, patient_edit, patient_update
from worklist.services.stations import modality_save, procedure_save, station_create, station_update
from worklist.services.studies import study_link, study_resolve

from . import serializers
from .filters import OrderFilter, PatientFilter, PerformedStepFilter, StepFilter, StudyFilter

READ_CREATE_PATCH = ["get", "post", "patch", "head", "options"]


class ReadViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    pass


class ServiceWriteViewSet(ReadViewSet):
    """Create and partial update through a service: the serializer checks the input,
    `create_object` / `update_object` (service calls) write it."""

    http_method_names = READ_CREATE_PATCH

    def create_object(self, data):
        raise NotImplementedError

    def update_object(self, instance, data):
        raise NotImplementedError

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        instance = self.create_object(serializer.validated_data)
        return Response(self.get_serializer(instance).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        instance = self.get_object()
        serializer = self.get_serializer(instance, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        instance = self.update_object(instance, serializer.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=instance.pk)).data)


class StationViewSet(ServiceWriteViewSet):
    queryset = selectors.station_list()
    serializer_class = serializers.StationSerializer
    filterset_fields = ["scheduled_station_ae_title", "modality", "active"]

    def create_object(self, data):
        return station_create(**data)

    def update_object(self, instance, data):
        return station_update(station=instance, **data)


class ProcedureViewSet(ServiceWriteViewSet):
    """The procedure catalogue: what the UI offers and what fills booking defaults."""

    queryset = Procedure.objects.all()
    serializer_class = serializers.ProcedureSerializer
    filterset_fields = ["modality", "active", "code_value", "coding_scheme_designator"]

    def create_object(self, data):
        return procedure_save(procedure=Procedure(), **data)

    def update_object(self, instance, data):
        return procedure_save(procedure=instance, **data)

    @extend_schema(
        parameters=[serializers.FirstAvailableQuerySerializer],
        responses=serializers.FirstAvailableSerializer,
    )
    @action(detail=True, methods=["get"], url_path="first-available")
    def first_available(self, request, pk=None):
        """The earliest free slots for this procedure across every room of its modality,
        optionally from a day on (`after`) and within hours (`from_time`, `to_time`);
        `reason` says why the first day has none."""
        params = serializers.FirstAvailableQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        result = availability.first_available(
            procedure=self.get_object(), **params.service_arguments()
        )
        return Response(serializers.FirstAvailableSerializer(result).data)


class PatientViewSet(ServiceWriteViewSet):
    queryset = selectors.patient_list()
    serializer_class = serializers.PatientSerializer
    filterset_class = PatientFilter

    def create_object(self, data):
        data.pop("revision", None)
        return patient_create(**data)

    @extend_schema(
        parameters=[serializers.PossibleDuplicatesQuerySerializer],
        responses=serializers.PatientSerializer(many=True),
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def duplicates(self, request):
        """Registered patients who may be the one about to be registered (ask before a
        POST, as the registration page shows them): born the same day with a similar
        name (accents, case and the order of the name parts ignored), or holding the
        same patient ID under another issuer. At most 20; an empty list when none."""
        params = serializers.PossibleDuplicatesQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        found = selectors.possible_duplicates(**params.validated_data, user=request.user)
        return Response(self.get_serializer(found, many=True).data)

    def update_object(self, instance, data):
        if "revision" in data:  # the client says which version it changes: checked
            return patient_edit(patient=instance, **data)
        return patient_update(patient=instance, **data)


BOOKING_CONFLICT = OpenApiResponse(
    description="Refused by a booking rule, nothing written. `detail` says why; "
    "`conflicting_step` names the step holding the room or the patient at that time; "
    "`rule` names a patient safety rule: `patient_overlap` (send "
    "`allow_patient_overlap`) or `alert_acknowledgement` (send the codes listed in "
    "`acknowledgement_required` in `acknowledged_alerts`)."
)


class OrderViewSet(ReadViewSet):
    queryset = selectors.order_list()
    serializer_class = serializers.OrderSerializer
    http_method_names = READ_CREATE_PATCH
    filterset_class = OrderFilter

    @extend_schema(
        request=serializers.OrderCreateSerializer,
        responses={201: serializers.OrderSerializer, 409: BOOKING_CONFLICT},
    )
    def create(self, request):
        serializer = serializers.OrderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        order = order_create(**serializer.service_arguments(), user=request.user)
        return Response(serializers.OrderSerializer(order).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=serializers.OrderUpdateSerializer,
        responses={200: serializers.OrderSerializer, 409: BOOKING_CONFLICT},
    )
    def partial_update(self, request, pk=None):
        serializer = serializers.OrderUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        order = order_update(
            order=self.get_object(), user=request.user, **serializer.validated_data
        )
        return Response(serializers.OrderSerializer(selectors.order_get(order.pk)).data)

    @extend_schema(request=serializers.OrderCancelSerializer, responses=serializers.OrderSerializer)
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def cancel(self, request, pk=None):
        serializer = serializers.OrderCancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        order = order_cancel(
            order=self.get_object(), user=request.user, **serializer.validated_data
        )
        return Response(serializers.OrderSerializer(selectors.order_get(order.pk)).data)


class ProcedureStepViewSet(ReadViewSet):
    queryset = selectors.step_list()
    serializer_class = serializers.WorklistStepSerializer
    http_method_names = ["get", "patch", "head", "options"]
    filterset_class = StepFilter

    @extend_schema(
        request=serializers.StepUpdateSerializer,
        responses={200: serializers.WorklistStepSerializer, 409: BOOKING_CONFLICT},
    )
    def partial_update(self, request, pk=None):
        serializer = serializers.StepUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        step = step_update(
            step=self.get_object(), user=request.user, **serializer.service_arguments()
        )
        return Response(self.get_serializer(selectors.step_list().get(pk=step.pk)).data)


class ViewsWorklistPermission(ModelPermissions):
    """Reading needs what reading /api/procedure-steps/ needs: the roles hold no
    permission of their own on performed steps, which belong to the worklist they
    report on. Any other method is a 405."""

    perms_map = {
        "GET": ["worklist.view_scheduledprocedurestep"],
        "HEAD": ["worklist.view_scheduledprocedurestep"],
        "OPTIONS": [],
    }


class PerformedStepViewSet(ReadViewSet):
    """The MPPS instances received from modalities, newest first; read only (they are
    written by the DICOM listener and linked in the scheduler UI)."""

    queryset = selectors.performed_step_list()
    serializer_class = serializers.PerformedStepSerializer
    permission_classes = [ViewsWorklistPermission]
    http_method_names = ["get", "head", "options"]
    filterset_class = PerformedStepFilter


class ModalityViewSet(ReadViewSet):
    """Known modalities: the calling AE titles allowed to query the worklist."""

    queryset = Modality.objects.prefetch_related("stations")
    serializer_class = serializers.ModalitySerializer
    http_method_names = READ_CREATE_PATCH
    filterset_fields = ["ae_title", "active", "sees_all_stations"]

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        modality = modality_save(modality=Modality(), **serializer.validated_data)
        return Response(self.get_serializer(modality).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        modality = self.get_object()
        serializer = self.get_serializer(modality, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        modality = modality_save(modality=modality, **serializer.validated_data)
        return Response(self.get_serializer(modality).data)


STUDY_CONFLICT = OpenApiResponse(
    description="Someone else acted first: the study changed since `revision` or its "
    "exception is closed. The answer names the study's current revision and outcome."
)


class StudyViewSet(ReadViewSet):
    """Arrived studies and their reconciliation outcome (MATCHED, MISMATCH,
    UNSCHEDULED, INCOMPLETE), newest first. Schedulers work an exception by linking
    the study to its order or resolving it with a comment."""

    queryset = (
        selectors.study_list()
        .prefetch_related("series", "discrepancies")
        .select_related("decision__decided_by", "decision__resolved_by")
    )
    serializer_class = serializers.StudySerializer
    http_method_names = ["get", "post", "head", "options"]
    filterset_class = StudyFilter

    def _answer(self, study):
        return Response(self.get_serializer(self.get_queryset().get(pk=study.pk)).data)

    @extend_schema(
        request=serializers.StudyLinkSerializer,
        responses={200: serializers.StudySerializer, 409: STUDY_CONFLICT},
    )
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def link(self, request, pk=None):
        """Link the study to the order it belongs to; it is decided again against that
        order at once (MATCHED, or MISMATCH / INCOMPLETE with the evidence)."""
        study = self.get_object()
        params = serializers.StudyLinkSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        orders = selectors.order_list()
        if data.get("order") is not None:
            order, field = orders.filter(pk=data["order"]).first(), "order"
        else:
            order = orders.filter(accession_number=data["accession_number"]).first()
            field = "accession_number"
        if order is None:
            raise Invalid({field: ["No such order."]})
        study = study_link(
            study=study,
            order=order,
            user=request.user,
            revision=data.get("revision"),
            comment=data["comment"],
        )
        return self._answer(study)

    @extend_schema(
        request=serializers.StudyResolveSerializer,
        responses={200: serializers.StudySerializer, 409: STUDY_CONFLICT},
    )
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def resolve(self, request, pk=None):
        """Close the study's exception with a comment saying why."""
        study = self.get_object()
        params = serializers.StudyResolveSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        study = study_resolve(
            study=study,
            comment=params.validated_data["comment"],
            user=request.user,
            revision=params.validated_data.get("revision"),
        )
        return self._answer(study)
