"""/api/docs/ and /api/schema/ are for signed-in users, and the docs come from the
installed drf-spectacular-sidecar, never a CDN."""

import re

import pytest

pytestmark = pytest.mark.django_db


def test_anonymous_browser_is_sent_to_the_login_page(client):
    response = client.get("/api/docs/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/api/docs/")


def test_anonymous_api_client_gets_no_schema(client):
    assert client.get("/api/schema/").status_code == 401


def test_token_holder_gets_the_schema(api):
    response = api.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/orders/" in response.content


def test_docs_load_only_from_the_site(admin_client):
    page = admin_client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in s for s in sources)
    assert all(s.startswith("/") for s in sources), sources
    assert "<script>" not in html  # the start-up script is fetched, not inline
    script = admin_client.get("/api/docs/", {"script": ""})
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
