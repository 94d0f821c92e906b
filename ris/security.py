"""Response headers Django 5.2 does not set itself: the Content-Security-Policy.

The pages load scripts only from the site's own static files (htmx, the admin's, the
Swagger UI from drf-spectacular-sidecar), so scripts are limited to 'self'; no page
has an inline script or event handler attribute. Styles allow inline `style`
attributes and `<style>` blocks (the Swagger UI and htmx's indicator style use them);
a style cannot run code.
"""

from django.conf import settings

DEFAULT_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data:",
    "font-src": "'self' data:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def policy_header(policy: dict[str, str]) -> str:
    return "; ".join(f"{directive} {sources}" for directive, sources in policy.items())


class ContentSecurityPolicyMiddleware:
    """Adds the policy of settings.RIS_CONTENT_SECURITY_POLICY to every response that
    has none of its own."""

    def __init__(self, get_response):
        self.get_response = get_response
        policy = getattr(settings, "RIS_CONTENT_SECURITY_POLICY", DEFAULT_POLICY)
        self.header = policy_header(policy)

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.header)
        return response
