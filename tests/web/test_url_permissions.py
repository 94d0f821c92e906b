"""Every URL of the URLconf refuses an anonymous visitor: a redirect to a login page,
401 or 403 (405 for a method the view does not take), for GET and POST alike. The
list is generated from the URLconf, so a new view without a permission check fails
here. Only the login pages, the health check and the favicon are public (static files
are served by WhiteNoise, outside the URLconf)."""

import re

import pytest
from django.contrib.admindocs.views import extract_views_from_urlpatterns, simplify_regex
from django.urls import get_resolver

pytestmark = pytest.mark.django_db

PUBLIC = {"ui:login", "admin:login", "healthz", "favicon"}
# Logging out shows nothing: the admin's sends an anonymous visitor to its index (which
# sends them to its login page).
HARMLESS = {"admin:logout"}
# A value for each URL parameter, so the path resolves to its view.
SAMPLES = {"pk": "1", "id": "1", "format": "json", "app_label": "worklist"}
DEFAULT_SAMPLE = "1"
REFUSED = {401, 403, 405}


def all_urls():
    """(name, path) for every view of the URLconf, parameters filled in."""
    found = []
    for _view, regex, namespace, name in extract_views_from_urlpatterns(
        get_resolver().url_patterns
    ):
        qualified = ":".join([*namespace, name]) if namespace and name else name
        path = simplify_regex(regex).replace("\\.", ".")
        path = path.replace("<drf_format_suffix:format>", ".json")
        path = re.sub(r"<(\w+:)?(\w+)>", lambda m: SAMPLES.get(m.group(2), DEFAULT_SAMPLE), path)
        found.append((qualified or path, path))
    return sorted(set(found), key=lambda item: item[1])


def refused(response) -> bool:
    if response.status_code in REFUSED:
        return True
    if response.status_code == 302:
        return "login" in response["Location"]
    return False


URLS = [(name, path) for name, path in all_urls() if name not in PUBLIC | HARMLESS]


def test_the_urlconf_was_walked():
    paths = {path for _, path in URLS}
    assert {"/", "/api/orders/", "/api/docs/", "/calendar/", "/admin/"} <= paths
    assert len(URLS) > 50


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize(("name", "path"), URLS, ids=[path for _, path in URLS])
def test_anonymous_is_refused(client, method, name, path):
    response = getattr(client, method)(path)
    assert refused(response), (
        f"{method.upper()} {path} ({name}) answered {response.status_code}"
        f" {response.get('Location', '')}"
    )


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_the_public_urls_answer(client, name):
    from django.urls import reverse

    assert client.get(reverse(name)).status_code == 200
