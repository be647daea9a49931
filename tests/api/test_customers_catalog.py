"""Customers, connect sessions, providers and connector configs through the native v1 API."""

import pytest

from apps.audit.models import AuditEvent
from apps.catalog.models import ConnectorConfig
from apps.connect.models import ConnectSession
from apps.connections.models import Connection
from tests.connections.conftest import make_provider
from tests.factories import ConnectionFactory, ConnectorConfigFactory, CustomerFactory, provider_for

pytestmark = pytest.mark.django_db


def test_customer_create_get_list(api):
    response = api.post("/api/v1/customers", {"external_id": "c-1", "name": "Globex", "metadata": {"tier": "gold"}})
    assert response.status_code == 201
    assert response.json()["external_id"] == "c-1"
    assert api.get("/api/v1/customers/c-1").json()["metadata"] == {"tier": "gold"}
    assert [c["external_id"] for c in api.get("/api/v1/customers").json()["items"]] == ["c-1"]


def test_customer_create_is_audited_and_a_taken_external_id_is_409(api, api_key):
    created = api.post("/api/v1/customers", {"external_id": "c-1"}).json()
    event = AuditEvent.objects.get(action="customer.created")
    assert (event.target_id, event.actor) == (created["id"], f"api_key:{api_key[0].pk}")
    assert event.data == {"external_id": "c-1"}
    again = api.post("/api/v1/customers", {"external_id": "c-1", "name": "Second"})
    assert again.status_code == 409
    assert again.json()["error"]["message"] == "A customer with external_id 'c-1' already exists."
    assert AuditEvent.objects.filter(action="customer.created").count() == 1


def test_customer_list_paginates(api, application):
    for n in range(5):
        CustomerFactory(application=application, external_id=f"p-{n}")
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = api.get("/api/v1/customers", **params).json()
        seen += [c["external_id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"p-{n}" for n in range(5)]


def test_customer_delete_deletes_connections_and_their_secrets(api, application, customer):
    connection = ConnectionFactory(
        application=application, customer=customer, credentials={"access_token": "at-secret"}
    )
    assert api.delete(f"/api/v1/customers/{customer.external_id}").status_code == 204
    assert not Connection.objects.filter(pk=connection.pk).exists()
    assert api.get(f"/api/v1/customers/{customer.external_id}").status_code == 404
    assert AuditEvent.objects.filter(action="customer.deleted", target_id=customer.pk).exists()
    assert AuditEvent.objects.filter(action="connection.deleted", target_id=connection.pk).exists()


def test_customer_delete_revokes_each_oauth_connection_outside_a_transaction(api, application, customer, fake_provider):
    provider = make_provider("revoking-crm", fake_provider.url)
    ConnectorConfigFactory(application=application, provider=provider)
    fake_provider.on("POST", "/revoke", body={})
    for n in range(2):
        ConnectionFactory(
            application=application,
            customer=customer,
            provider=provider,
            is_authentication_pending=False,
            credentials={"access_token": f"at-{n}", "refresh_token": f"rt-{n}"},
        )
    assert api.delete(f"/api/v1/customers/{customer.external_id}").status_code == 204
    assert sorted(call.form["token"] for call in fake_provider.calls("/revoke")) == ["rt-0", "rt-1"]
    assert not Connection.objects.filter(customer_id=customer.pk).exists()


def test_other_applications_customer_is_404(api, other_application):
    CustomerFactory(application=other_application, external_id="theirs")
    assert api.get("/api/v1/customers/theirs").status_code == 404
    assert api.delete("/api/v1/customers/theirs").status_code == 404


def test_connect_session_returns_token_url_and_expiry(api, application):
    response = api.post("/api/v1/connect-sessions", {"customer_id": "new-cust", "allowed_providers": ["hubspot"]})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["token"] and body["url"].startswith("http") and body["expires_at"]
    assert body["customer_id"] == "new-cust"
    session = ConnectSession.objects.get(pk=body["id"])
    assert session.application == application and session.token_hash != body["token"]


def test_connect_session_unknown_provider_is_422(api):
    assert api.post("/api/v1/connect-sessions", {"customer_id": "c", "allowed_providers": ["nope"]}).status_code == 422


def test_provider_list_filters(api):
    names = {p["name"] for p in api.get("/api/v1/providers", category="crm").json()}
    assert "hubspot" in names and "ms-dynamics-bc" not in names
    api_key_names = {p["auth_type"] for p in api.get("/api/v1/providers", auth_type="api_key").json()}
    assert api_key_names == {"api_key"}
    assert [p["name"] for p in api.get("/api/v1/providers", search="business central").json()] == ["ms-dynamics-bc"]


def test_provider_get_and_404(api):
    body = api.get("/api/v1/providers/ms-dynamics-bc").json()
    assert body["auth_type"] == "oauth2" and {s["name"] for s in body["settings"]} >= {"environment", "company"}
    assert api.get("/api/v1/providers/nope").status_code == 404


def test_connector_config_client_secret_is_write_only(api, application):
    response = api.post(
        "/api/v1/connector-configs",
        {"provider": "hubspot", "client_id": "cid", "client_secret": "super-secret-value", "scopes": ["crm.objects"]},
    )
    assert response.status_code == 201, response.content
    assert "super-secret-value" not in response.content.decode()
    body = response.json()
    assert body["has_client_secret"] is True and "client_secret" not in body
    config = ConnectorConfig.objects.get(pk=body["id"])
    assert config.secret_value == "super-secret-value" and config.application == application

    listed = api.get("/api/v1/connector-configs")
    assert "super-secret-value" not in listed.content.decode()
    patched = api.patch(f"/api/v1/connector-configs/{body['id']}", {"client_id": "cid-2"})
    assert patched.json()["client_id"] == "cid-2" and patched.json()["has_client_secret"] is True
    assert ConnectorConfig.objects.get(pk=body["id"]).secret_value == "super-secret-value"


def test_connector_config_duplicate_is_409_and_other_apps_404(api, application, other_application):
    ConnectorConfigFactory(application=application, provider=provider_for("hubspot"))
    assert api.post("/api/v1/connector-configs", {"provider": "hubspot"}).status_code == 409
    theirs = ConnectorConfigFactory(application=other_application, provider=provider_for("hubspot"))
    assert api.patch(f"/api/v1/connector-configs/{theirs.pk}", {"client_id": "x"}).status_code == 404
