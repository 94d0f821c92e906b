"""Every endpoint of the OpenAPI schema (/api/schema/, drf-spectacular) fed input
generated from the schema itself, valid and invalid (schemathesis): no answer is a
500, and every error is JSON. Bounded (a few examples per operation) so it runs in
well under a minute; raise FUZZ_EXAMPLES to search longer."""

import json
import os
from urllib.parse import urlencode

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from rest_framework.renderers import JSONRenderer
from schemathesis.core import NotSet

from tests.factories import api_booked

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "2"))


@pytest.fixture(scope="module")
def booked(django_db_setup, django_db_blocker):
    """One booking for the whole module (a list to read, an order to change), made
    once: booking it for each operation cost more than the operations' own cases.
    Its rows stay until the module ends, then they are removed."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from tests import factories
    from worklist.models import Order, Patient, Station

    with django_db_blocker.unblock():
        user = get_user_model().objects.create_superuser("fuzz", password="pw-fuzz-123")
        token = Token.objects.create(user=user)
        factories.station("CT1", "CT", name="CT Room 1")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        api_booked(client)
    yield token.key
    with django_db_blocker.unblock():
        Order.objects.all().delete()
        Patient.objects.all().delete()
        Station.objects.all().delete()
        Token.objects.all().delete()
        user.delete()


def _schema():
    """The schema /api/schema/ serves, generated as that view generates it."""
    from drf_spectacular.generators import SchemaGenerator

    document = SchemaGenerator().get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(json.loads(JSONRenderer().render(document)))
    # Generated cases only, `EXAMPLES` per operation: the coverage phase alone sends
    # hundreds per operation, minutes in all.
    loaded.config.phases.update(phases=["examples", "fuzzing"])
    return loaded


schema = _schema()


def _send(case, token: str):
    """The generated request, sent through Django's test client (in the test's
    transaction, as every API test sends)."""
    from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
    from rest_framework.test import APIClient

    client = APIClient()
    client.raise_request_exception = False
    path = case.formatted_path
    if case.query:
        path += "?" + urlencode(case.query, doseq=True)
    headers = {
        name: value
        for name, value in (case.headers or {}).items()
        if name.lower() not in ("content-type", "content-length", "authorization")
        and name.isascii()
        and str(value).isascii()
    }
    headers["Authorization"] = f"Token {token}"
    body, content_type = b"", "application/json"
    if not isinstance(case.body, NotSet):
        content_type = case.media_type or "application/json"
        if "json" in content_type:
            body = json.dumps(case.body)
        elif content_type.startswith("multipart/") and isinstance(case.body, dict):
            body, content_type = encode_multipart(BOUNDARY, case.body), MULTIPART_CONTENT
        elif isinstance(case.body, dict):
            body = urlencode(case.body, doseq=True)
        else:
            body = str(case.body)
    return client.generic(case.method, path, body, content_type=content_type, headers=headers)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_input_makes_a_500_and_every_error_is_json(case, booked):
    response = _send(case, booked)
    assert response.status_code < 500, (
        case.method,
        case.formatted_path,
        response.content[:500],
    )
    if response.status_code >= 400:
        content_type = response.get("Content-Type", "")
        assert content_type.startswith("application/json"), (
            case.method,
            case.formatted_path,
            response.status_code,
        )
