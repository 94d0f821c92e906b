from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated

FAVICON = (Path(__file__).resolve().parent / "favicon.ico").read_bytes()


@login_required
def home(request):
    return render(request, "home.html")


def healthz(request):
    """Liveness for load balancers and compose health checks: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@require_safe
@cache_control(max_age=7 * 24 * 3600, public=True)
def favicon(request):
    """Browsers ask for /favicon.ico whatever the page says; answer instead of a 404."""
    return HttpResponse(FAVICON, content_type="image/vnd.microsoft.icon")


class ApiDocs(SpectacularSwaggerSplitView):
    """The Swagger UI, for whoever may read the schema (a session or a token: the
    SERVE_PERMISSIONS of SPECTACULAR_SETTINGS); a browser without a session is sent
    to the login page rather than shown a JSON 401."""

    def handle_exception(self, exc):
        if isinstance(exc, NotAuthenticated | AuthenticationFailed):
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)
