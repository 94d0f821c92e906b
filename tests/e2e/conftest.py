"""End-to-end tests: the real UI in headless Debian Chromium, driven by Playwright,
against a live server. Chromium missing is a failure, not a skip: CI installs it."""

import os
import tempfile
from pathlib import Path

import pytest

from tests.ui.conftest import (  # noqa: F401  (fixtures shared with the UI tests)
    PASSWORD,
    _own_cache,
    catalogue,
    make_user,
    role_groups,
    rooms,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Screenshots go outside the checkout: RIS_TEST_ARTIFACTS, or a folder in the system's
# temporary directory; the session's last lines say where.
ARTIFACTS = Path(
    os.environ.get("RIS_TEST_ARTIFACTS") or Path(tempfile.gettempdir()) / "ris-test-artifacts"
).resolve()
_artifacts_used = False


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module. Playwright's sync API keeps its event loop
    marked as running on this thread while the browser lives, so Django's guard
    against ORM calls from async code is lifted for exactly that time (the test's own
    ORM calls are plain synchronous code), and both end with the module."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="en-GB"
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def artifacts():
    global _artifacts_used
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _artifacts_used = True
    return ARTIFACTS


def pytest_terminal_summary(terminalreporter):
    if _artifacts_used:
        terminalreporter.write_line(f"e2e screenshots: {ARTIFACTS} (RIS_TEST_ARTIFACTS)")


def log_in(page, username, password=PASSWORD):
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
