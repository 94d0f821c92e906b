import os

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


@pytest.fixture
def on_postgres():
    return connection.vendor == "postgresql"
