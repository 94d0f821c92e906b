import os
import shutil

import pytest
from django.db import connection

ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
ON_REDIS = os.environ.get("CELERY_BROKER_URL", "").startswith(("redis://", "rediss://"))


def pytest_collection_modifyitems(config, items):
    """Tests of the production path run where CI points them at PostgreSQL and Redis;
    elsewhere they are skipped with the reason shown."""
    skip_pg = pytest.mark.skip(reason="needs DATABASE_URL=postgres://... (run by .ci/run)")
    skip_redis = pytest.mark.skip(reason="needs CELERY_BROKER_URL=redis://... (run by .ci/run)")
    for item in items:
        if "postgres" in item.keywords and not ON_POSTGRES:
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not ON_REDIS:
            item.add_marker(skip_redis)


def require_peer(path: str, package: str) -> str:
    """An external program the tests talk to (DCMTK, Chromium, Orthanc).

    Missing on a developer's fresh machine: the test is skipped, saying what to
    install. Missing where RIS_REQUIRE_PEERS is set (.ci/run sets it): the test fails,
    so CI can never pass by skipping the real peers.
    """
    found = shutil.which(path) or (path if os.path.exists(path) else None)
    if found:
        return found
    message = f"{path} is missing: install the Debian package {package}"
    if os.environ.get("RIS_REQUIRE_PEERS"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def on_postgres():
    return connection.vendor == "postgresql"


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("admin", "admin@example.org", "pw-admin-1")


@pytest.fixture
def api(admin_user):
    """An API client authenticated with the admin's token, as an integration would be."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    token = Token.objects.create(user=admin_user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def station(db):
    """CT1, the room of the contract's booking example, open around the clock."""
    from tests import factories

    return factories.station(
        "CT1", "CT", name="CT Room 1", scheduled_procedure_step_location="Radiology B"
    )
