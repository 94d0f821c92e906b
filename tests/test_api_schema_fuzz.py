"""Every endpoint of the OpenAPI schema (/api/schema/, drf-spectacular) fed input
generated from the schema itself, valid and invalid (schemathesis): no answer is a
500, and every error is JSON. Bounded (a few examples per operation) so it runs in
well under a minute; raise FUZZ_EXAMPLES to search longer."""

import json
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from rest_framework.renderers import JSONRenderer

from tests.factories import api_booked

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "3"))


@pytest.fixture
def api_token(api, admin_user):
    from rest_framework.authtoken.models import Token

    return Token.objects.get(user=admin_user).key


@pytest.fixture
def booked(api, station):
    return api_booked(api)  # something to read, change and cancel


def _schema():
    """The schema /api/schema/ serves, generated as that view generates it, run
    against the WSGI application in-process."""
    from django.core.wsgi import get_wsgi_application
    from drf_spectacular.generators import SchemaGenerator

    document = SchemaGenerator().get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(json.loads(JSONRenderer().render(document)))
    loaded.app = get_wsgi_application()
    # Generated cases only, `EXAMPLES` per operation: the coverage phase alone sends
    # hundreds per operation, minutes in all.
    loaded.config.phases.update(phases=["examples", "fuzzing"])
    return loaded


schema = _schema()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_input_makes_a_500_and_every_error_is_json(case, api_token, booked):
    response = case.call(headers={"Authorization": f"Token {api_token}"})
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])[0]
        assert content_type.startswith("application/json"), (
            case.method,
            case.formatted_path,
            response.status_code,
        )
