"""The pages work under the Content-Security-Policy in a real browser, and the API
docs render from the installed package with every request outside the site refused
(no internet)."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import log_in
from tests.ui.conftest import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def offline_page(page, live_server):
    """The page with everything not served by the live server refused, and the
    browser's reports of policy violations and script errors collected."""
    page.route(
        "**/*",
        lambda route: (
            route.continue_() if route.request.url.startswith(live_server.url) else route.abort()
        ),
    )
    page.violations = []
    page.on(
        "console",
        lambda message: (
            page.violations.append(message.text)
            if "Content Security Policy" in message.text or message.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda error: page.violations.append(str(error)))
    return page


@pytest.fixture
def admin_in_browser(offline_page, django_user_model):
    django_user_model.objects.create_superuser("root", "root@example.org", PASSWORD)
    log_in(offline_page, "root")
    expect(offline_page.get_by_text("Signed in as")).to_be_visible()
    return offline_page


def test_api_docs_render_offline_without_policy_violations(admin_in_browser):
    tab = admin_in_browser
    tab.goto("/api/docs/")
    # Swagger renders the whole schema in the page: give a busy machine time.
    expect(tab.locator(".swagger-ui .info .title")).to_contain_text("RIS API", timeout=30_000)
    expect(tab.locator(".opblock-tag-section").first).to_be_visible(timeout=30_000)
    assert tab.violations == []


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/calendar/",
        "/board/",
        "/orders/",
        "/patients/",
        "/studies/exceptions/",
        "/audit/",
        "/audit/report/",
        "/admin/",
        "/admin/worklist/patient/",
        "/exports/",
    ],
)
def test_pages_run_without_policy_violations(admin_in_browser, path):
    tab = admin_in_browser
    tab.goto(path)
    tab.wait_for_load_state("networkidle")
    expect(tab.locator("h1").first).to_be_visible()
    assert tab.violations == []
