from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register("stations", views.StationViewSet)
router.register("procedures", views.ProcedureViewSet)
router.register("patients", views.PatientViewSet)
router.register("orders", views.OrderViewSet)
router.register("procedure-steps", views.ProcedureStepViewSet, basename="procedure-step")
router.register("modalities", views.ModalityViewSet)
router.register("performed-steps", views.PerformedStepViewSet, basename="performed-step")
router.register("studies", views.StudyViewSet, basename="study")

urlpatterns = router.urls
