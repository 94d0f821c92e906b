from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

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
    # Signed-in users and token holders only (SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"]);
    # a browser without a session is sent to the login page. The docs' split view
    # serves its start-up script from a URL, not inline, as the Content-Security-Policy
    # requires.
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", views.ApiDocs.as_view(url_name="schema"), name="api-docs"),
    path("", include("worklist.ui.urls")),
]

handler400 = "ris.api_errors.bad_request"
handler404 = "ris.api_errors.not_found"
handler500 = "ris.api_errors.server_error_page"
