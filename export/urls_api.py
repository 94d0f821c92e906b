"""/api/exports/ and /api/export-projects/ routes."""

from rest_framework.routers import SimpleRouter

from . import apis

router = SimpleRouter()
router.register("exports", apis.ExportViewSet, basename="export")
router.register("export-projects", apis.ProjectViewSet, basename="export-project")

urlpatterns = router.urls
