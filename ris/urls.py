from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("audit/", include("audit.urls")),
    path("exports/", include("export.urls")),
    path("api/audit/", include("audit.urls_api")),
    path("api/", include("export.urls_api")),
    path("api/", include("worklist.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", include("worklist.ui.urls")),
]
