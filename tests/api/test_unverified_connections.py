"""A provider without a verification request gives an "unverified" connection, never a "healthy" one:
in the API (native and OpenInt shapes), the customer portal and the admin."""

import pytest
import urllib3

from apps.connect.services import connect_session_create, connect_session_url
from apps.connections.models import Connection
from apps.connections.services import connection_check_health
from tests.factories import StaffUserFactory, provider_for


@pytest.fixture
def no_outbound_requests(monkeypatch):
    """Any HTTP request leaving Patchbay (urllib3 carries every provider request) fails the test."""

    def refuse(self, method, url, *args, **kwargs):
        raise AssertionError(f"unexpected outbound request: {method} {url}")

    monkeypatch.setattr(urllib3.PoolManager, "urlopen", refuse)


@pytest.fixture
def unverified_connection(api, application, no_outbound_requests):
    assert provider_for("clearbit").definition["verification"] is None
    response = api.post(
        "/api/v1/connections",
        {"customer_id": "c-unverified", "provider": "clearbit", "credentials": {"api_key": "sk_test_123"}},
    )
    assert response.status_code == 201, response.content
    return Connection.objects.select_related("customer").get(pk=response.json()["id"])


def test_provider_api_says_which_providers_verify_and_cites_sources(api):
    clearbit = api.get("/api/v1/providers/clearbit").json()
    hubspot = api.get("/api/v1/providers/hubspot").json()
    assert clearbit["verifies_credentials"] is False and hubspot["verifies_credentials"] is True
    assert hubspot["sources"] and all(source.startswith("https://") for source in hubspot["sources"])


def test_api_reports_unverified_not_healthy(api, unverified_connection):
    body = api.get(f"/api/v1/connections/{unverified_connection.pk}").json()
    assert body["status"] == "unverified"
    assert body["is_healthy"] is False and body["health"]["healthy"] is False
    assert body["health"]["status_code"] == "unverified"
    assert "no verification request" in body["health"]["message"]
    listed = api.get("/api/v1/connections", status="unverified").json()
    assert [c["id"] for c in listed["items"]] == [unverified_connection.pk]
    assert api.get("/api/v1/connections", status="healthy").json()["items"] == []


def test_openint_shape_says_unknown_with_the_reason(api, unverified_connection):
    body = api.get(f"/api/compat/openint/connection/{unverified_connection.pk}").json()
    assert body["status"] == "unknown" and "Not verified" in body["status_message"]


def test_health_check_keeps_it_unverified(unverified_connection):
    checked = connection_check_health(connection_id=unverified_connection.pk)
    assert checked.status == Connection.Status.UNVERIFIED and not checked.lifecycle.is_healthy


def test_portal_shows_the_unverified_badge(client, application, unverified_connection):
    _session, token = connect_session_create(application=application, customer=unverified_connection.customer)
    client.get(connect_session_url(token).removeprefix("http://127.0.0.1:8000"))
    body = client.get("/connect/portal/").content.decode()
    assert 'data-badge="unverified"' in body and 'data-badge="healthy"' not in body
    assert "offers no request to check it works" in body


def test_admin_shows_unverified_and_which_providers_verify(client, unverified_connection):
    client.force_login(StaffUserFactory(username="root"))
    change = client.get(f"/admin/connections/connection/{unverified_connection.pk}/change/").content.decode()
    assert "Unverified" in change and "no verification request" in change
    changelist = client.get("/admin/connections/connection/", {"status": "unverified"}).content.decode()
    assert unverified_connection.pk in changelist
    providers = client.get("/admin/catalog/provider/", {"q": "clearbit"}).content.decode()
    assert "Verifies credentials" in providers and 'alt="False"' in providers
