"""Fixtures of the web and operations tests: the browser ones are the end-to-end tests'."""

from tests.e2e.conftest import browser, page  # noqa: F401
