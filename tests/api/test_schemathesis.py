"""Property-based run of every operation in /api/openapi.json: no 5xx, and every answer matches the schema.

Bounded (a dozen examples per operation) so the suite stays fast. Requests carry a valid API key and the
database holds a customer, a connector config and a few connections, so generated ids sometimes hit rows.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from apps.connections.models import ConnectionModel, SyncRun
from apps.tenants.services import api_key_create
from config.wsgi import application as wsgi_app
from tests.factories import ApplicationFactory, ConnectionFactory, ConnectorConfigFactory, CustomerFactory, provider_for
from tests.wire_timestamps import misformatted_timestamps


@pytest.fixture
def seeded_key(db):
    application = ApplicationFactory()
    customer = CustomerFactory(application=application, external_id="acme-1")
    ConnectorConfigFactory(application=application, provider=provider_for("hubspot"))
    ConnectionFactory(application=application, customer=customer, provider=provider_for("hubspot"))
    authenticated = ConnectionFactory(
        application=application,
        customer=customer,
        provider=provider_for("ms-dynamics-bc"),
        is_authentication_pending=False,
        status="healthy",
        settings={"environment": "Production", "company": "11111111-2222-3333-4444-555555555555"},
    )
    # Lists read models and their last sync as JSON from the page query; their answers are checked too.
    ConnectionModel.objects.create(connection=authenticated, name="deals", display_name="Deals")
    contacts = ConnectionModel.objects.create(connection=authenticated, name="contacts", display_name="Contacts")
    contacts.last_sync = SyncRun.objects.create(
        model=contacts, status="failed", error="quota", pagination_state={"page": 2}, started_at=timezone.now()
    )
    contacts.save()
    _, raw = api_key_create(application=application, name="schemathesis")
    return raw


@pytest.fixture
def keep_test_connection():
    """Schemathesis drives the real WSGI handler, whose request signals would close the database connection
    that holds the test transaction (Postgres). django.test.Client disconnects them the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


# Loaded eagerly at collection: serving /api/openapi.json needs no database. (The lazy from_fixture loader
# does not work with pytest 9 in schemathesis 4.32.)
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", wsgi_app)


@schema.parametrize()
@hypothesis_settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
    derandomize=True,
)
def test_openapi_conformance(case, seeded_key, keep_test_connection, settings):
    settings.PATCHBAY_API_RATE_LIMIT_PER_MINUTE = 0  # the generator sends far more than a minute's quota
    response = case.call_and_validate(
        headers={"Authorization": f"Bearer {seeded_key}"},
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
    )
    if "json" in response.headers.get("content-type", [""])[0]:
        assert misformatted_timestamps(response.json()) == []
