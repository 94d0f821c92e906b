from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("audit/", include("audit.urls")),
    path("exports/", include("export.urls")),
    path("hl7/", include("hl7v2.urls")),
    path("api/audit/", include("audit.urls_api")),
    path("api/", include("export.urls_api")),
    path("api/", include("worklist.api.urls")),
    # Signed-in users only (SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"]); a browser
    # without a session is sent to the login page. The split view serves its start-up
    # script from a URL, not inline, so the Content-Security-Policy allows it.
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/docs/",
        login_required(SpectacularSwaggerSplitView.as_view(url_name="schema")),
        name="api-docs",
    ),
    path("", include("worklist.ui.urls")),
]

handler400 = "ris.api_errors.bad_request"
handler404 = "ris.api_errors.not_found"
handler500 = "ris.api_errors.server_error_page"
