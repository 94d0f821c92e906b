from rest_framework.routers import DefaultRouter

from . import apis

router = DefaultRouter()
router.register("stations", apis.StationViewSet)
router.register("procedures", apis.ProcedureViewSet)
router.register("patients", apis.PatientViewSet)
router.register("orders", apis.OrderViewSet)
router.register("procedure-steps", apis.ProcedureStepViewSet, basename="procedure-step")
router.register("modalities", apis.ModalityViewSet)
router.register("performed-steps", apis.PerformedStepViewSet, basename="performed-step")

urlpatterns = router.urls
