"""Native v1 connections: tenancy, secrets, refresh policy, metadata merge, pagination, query counts."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.connections.models import Connection
from tests.factories import ConnectionFactory, ConnectorConfigFactory, CustomerFactory, provider_for

pytestmark = pytest.mark.django_db

SECRET_KEYS = {"credentials", "access_token", "refresh_token", "api_key", "client_secret"}


def all_keys(value) -> set[str]:
    """Every key in a JSON tree, except inside OpenInt's connector.schemas (JSON Schemas name fields only)."""
    if isinstance(value, dict):
        return set(value) | {k for key, v in value.items() if key != "schemas" for k in all_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in all_keys(v)}
    return set()


@pytest.fixture
def bc_token_endpoint(fake_provider):
    """Business Central's catalog entry with its token endpoint at a local fake provider; returns the fake."""
    provider = provider_for("ms-dynamics-bc")
    provider.definition["oauth"]["token_url"] = f"{fake_provider.url}/token"
    provider.save(update_fields=["definition"])
    return fake_provider


@pytest.fixture
def expired_bc_connection(application, customer, bc_token_endpoint):
    ConnectorConfigFactory(application=application, provider=provider_for("ms-dynamics-bc"))
    return ConnectionFactory(
        application=application,
        customer=customer,
        provider=provider_for("ms-dynamics-bc"),
        is_authentication_pending=False,
        status="healthy",
        settings={"environment": "Production", "company": "11111111-2222-3333-4444-555555555555"},
        credentials={"type": "oauth2", "access_token": "old-access", "refresh_token": "old-refresh"},
        credentials_expires_at=timezone.now() - timedelta(minutes=5),
        refresh_due_at=timezone.now() - timedelta(minutes=10),
    )


def answer_refreshes(token_endpoint, access_token="new-access"):
    token_endpoint.on(
        "POST",
        "/token",
        body={"access_token": access_token, "refresh_token": "new-refresh", "expires_in": 3600, "token_type": "Bearer"},
    )


def token_requests(token_endpoint) -> int:
    return len(token_endpoint.calls("/token"))


# --- tenancy -----------------------------------------------------------------------------------------


def test_other_applications_connection_answers_like_an_unknown_id(api, other_application):
    theirs = ConnectionFactory(application=other_application)
    unknown = api.get("/api/v1/connections/conn_unknown")
    for response in (
        api.get(f"/api/v1/connections/{theirs.pk}"),
        api.patch(f"/api/v1/connections/{theirs.pk}", {"display_name": "x"}),
        api.delete(f"/api/v1/connections/{theirs.pk}"),
        api.get(f"/api/compat/openint/connection/{theirs.pk}"),
    ):
        assert response.status_code == 404
        assert response.json() == unknown.json()
    assert Connection.objects.filter(pk=theirs.pk, display_name="").exists()


def test_lists_never_show_other_applications_connections(api, application, other_application):
    mine = ConnectionFactory(application=application)
    ConnectionFactory(application=other_application)
    assert [c["id"] for c in api.get("/api/v1/connections").json()["items"]] == [mine.pk]
    assert [c["id"] for c in api.get("/api/compat/stuut/v2/integrations/connections").json()] == [mine.pk]
    assert api.get("/api/compat/openint/connection").json()["total"] == 1


# --- secrets -----------------------------------------------------------------------------------------


def test_no_secret_field_anywhere_without_include_secrets(api, bc_connection):
    for response in (
        api.get(f"/api/v1/connections/{bc_connection.pk}", expand=["provider", "connector"]),
        api.get("/api/v1/connections"),
        api.get("/api/compat/stuut/v2/integrations/connections"),
        api.get(f"/api/compat/openint/connection/{bc_connection.pk}", expand="connector"),
        api.get("/api/compat/openint/connection"),
    ):
        assert response.status_code == 200, response.content
        assert not all_keys(response.json()) & SECRET_KEYS
        assert "secret-value" not in response.content.decode()
    assert not AuditEvent.objects.filter(action="connection.secrets_read").exists()


def test_include_secrets_returns_credentials_and_is_audited(api, bc_connection, api_key):
    body = api.get(f"/api/v1/connections/{bc_connection.pk}", include_secrets="true").json()
    assert body["credentials"]["access_token"] == "at-secret-value"
    event = AuditEvent.objects.get(action="connection.secrets_read", target_id=bc_connection.pk)
    assert event.actor == f"api_key:{api_key[0].pk}"
    assert "at-secret-value" not in json.dumps(event.data)


def test_openint_include_secrets_puts_oauth_credentials_in_settings(api, bc_connection):
    body = api.get(f"/api/compat/openint/connection/{bc_connection.pk}", include_secrets="true").json()
    assert body["settings"]["oauth"]["credentials"]["access_token"] == "at-secret-value"
    assert body["settings"]["environment"] == "Production"
    assert AuditEvent.objects.filter(action="connection.secrets_read", target_id=bc_connection.pk).count() == 1


def test_list_include_secrets_audits_each_connection(api, bc_connection):
    items = api.get("/api/v1/connections", include_secrets="true").json()["items"]
    assert items[0]["credentials"]["refresh_token"] == "rt-secret-value"
    assert AuditEvent.objects.filter(action="connection.secrets_read").count() == 1


# --- refresh policy ----------------------------------------------------------------------------------


def test_get_refreshes_an_expired_token_by_default(api, expired_bc_connection, bc_token_endpoint):
    answer_refreshes(bc_token_endpoint)
    body = api.get(f"/api/v1/connections/{expired_bc_connection.pk}", include_secrets="true").json()
    assert token_requests(bc_token_endpoint) == 1
    assert body["credentials"]["access_token"] == "new-access"
    expired_bc_connection.refresh_from_db()
    assert expired_bc_connection.credentials["refresh_token"] == "new-refresh"


def test_refresh_policy_none_returns_stored_token(api, expired_bc_connection, bc_token_endpoint):
    answer_refreshes(bc_token_endpoint)
    body = api.get(
        f"/api/v1/connections/{expired_bc_connection.pk}", include_secrets="true", refresh_policy="none"
    ).json()
    assert token_requests(bc_token_endpoint) == 0
    assert body["credentials"]["access_token"] == "old-access"


def test_refresh_policy_force_refreshes_a_valid_token(api, expired_bc_connection, bc_token_endpoint):
    Connection.objects.filter(pk=expired_bc_connection.pk).update(
        credentials_expires_at=timezone.now() + timedelta(hours=1),
        refresh_due_at=timezone.now() + timedelta(minutes=55),
    )
    answer_refreshes(bc_token_endpoint, access_token="forced")
    body = api.get(
        f"/api/compat/openint/connection/{expired_bc_connection.pk}", include_secrets="true", refresh_policy="force"
    ).json()
    assert token_requests(bc_token_endpoint) == 1
    assert body["settings"]["oauth"]["credentials"]["access_token"] == "forced"


def test_refresh_policy_auto_leaves_a_valid_token_alone(api, expired_bc_connection, bc_token_endpoint):
    Connection.objects.filter(pk=expired_bc_connection.pk).update(
        credentials_expires_at=timezone.now() + timedelta(hours=1),
        refresh_due_at=timezone.now() + timedelta(minutes=55),
    )
    answer_refreshes(bc_token_endpoint)
    api.get(f"/api/v1/connections/{expired_bc_connection.pk}", refresh_policy="auto")
    assert token_requests(bc_token_endpoint) == 0


def test_list_does_not_refresh_by_default(api, expired_bc_connection, bc_token_endpoint):
    answer_refreshes(bc_token_endpoint)
    api.get("/api/v1/connections", include_secrets="true")
    assert token_requests(bc_token_endpoint) == 0
    api.get("/api/v1/connections", refresh_policy="auto")
    assert token_requests(bc_token_endpoint) == 1


def test_force_refresh_with_dead_refresh_token_is_409(api, expired_bc_connection, bc_token_endpoint):
    bc_token_endpoint.on("POST", "/token", status=400, body={"error": "invalid_grant"})
    response = api.get(f"/api/v1/connections/{expired_bc_connection.pk}", refresh_policy="force")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_grant"


# --- create / update / delete ------------------------------------------------------------------------


def test_create_oauth_connection_returns_authorization_url(api, application):
    ConnectorConfigFactory(application=application, provider=provider_for("hubspot"))
    response = api.post("/api/v1/connections", {"customer_id": "new-customer", "provider": "hubspot"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["is_authentication_pending"] is True
    assert "/connect/start/" in body["authorization_url"]
    assert body["customer_id"] == "new-customer"


@pytest.mark.parametrize("config", ["none", "disabled"])
def test_oauth_connection_without_an_oauth_client_is_refused_naming_the_endpoint(api, application, config):
    if config == "disabled":
        ConnectorConfigFactory(application=application, provider=provider_for("hubspot"), is_enabled=False)
    response = api.post("/api/v1/connections", {"customer_id": "new-customer", "provider": "hubspot"})
    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "connector_not_configured"
    assert "POST /api/v1/connector-configs" in error["message"] and '"hubspot"' in error["message"]
    assert not Connection.objects.filter(application=application).exists()
    assert not application.customers.filter(external_id="new-customer").exists()


def test_oauth_connection_can_be_created_once_its_oauth_client_is_configured(api, application):
    refused = api.post("/api/v1/connections", {"customer_id": "c-1", "provider": "hubspot"})
    assert refused.status_code == 409
    configured = api.post(
        "/api/v1/connector-configs", {"provider": "hubspot", "client_id": "hub-id", "client_secret": "hub-secret"}
    )
    assert configured.status_code == 201, configured.content
    created = api.post("/api/v1/connections", {"customer_id": "c-1", "provider": "hubspot"})
    assert created.status_code == 201
    assert "/connect/start/" in created.json()["authorization_url"]


def test_create_api_key_connection_with_credentials(api, application):
    response = api.post(
        "/api/v1/connections",
        {"customer_id": "c-9", "provider": "clearbit", "credentials": {"api_key": "sk_test_123"}},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["is_authentication_pending"] is False and body["has_credentials"] is True
    assert "sk_test_123" not in response.content.decode()
    assert Connection.objects.get(pk=body["id"]).credentials["api_key"] == "sk_test_123"


def test_create_with_unknown_provider_is_422(api):
    response = api.post("/api/v1/connections", {"customer_id": "c", "provider": "nope"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "unknown_provider"


def test_metadata_is_shallow_merged_and_null_deletes_a_key(api, application, customer):
    connection = ConnectionFactory(
        application=application, customer=customer, metadata={"keep": 1, "drop": 2, "nested": {"a": 1}}
    )
    response = api.patch(
        f"/api/v1/connections/{connection.pk}", {"metadata": {"drop": None, "new": "x", "nested": {"b": 2}}}
    )
    assert response.status_code == 200, response.content
    assert response.json()["metadata"] == {"keep": 1, "new": "x", "nested": {"b": 2}}
    connection.refresh_from_db()
    assert connection.metadata == {"keep": 1, "new": "x", "nested": {"b": 2}}


def test_patch_display_name_and_sync_flag_leaves_other_fields(api, bc_connection):
    body = api.patch(
        f"/api/v1/connections/{bc_connection.pk}", {"display_name": "Renamed", "is_sync_disabled": True}
    ).json()
    assert body["display_name"] == "Renamed" and body["is_sync_disabled"] is True
    assert body["settings"]["environment"] == "Production"


def test_delete_connection_wipes_it(api, bc_connection):
    assert api.delete(f"/api/v1/connections/{bc_connection.pk}").status_code == 204
    assert not Connection.objects.filter(pk=bc_connection.pk).exists()
    assert api.get(f"/api/v1/connections/{bc_connection.pk}").status_code == 404


# --- listing -----------------------------------------------------------------------------------------


def test_cursor_pagination_walks_every_row_once_newest_first(api, application, customer):
    created = [ConnectionFactory(application=application, customer=customer) for _ in range(7)]
    same_instant = timezone.now()
    Connection.objects.filter(pk__in=[c.pk for c in created[:3]]).update(created_at=same_instant)
    expected = list(
        Connection.objects.filter(application=application).order_by("-created_at", "-id").values_list("id", flat=True)
    )
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = api.get("/api/v1/connections", **params).json()
        seen += [c["id"] for c in page["items"]]
        cursor, pages = page["next_cursor"], pages + 1
        if cursor is None:
            break
    assert seen == expected and pages == 3


def test_list_filters(api, application, customer, bc_connection):
    other_customer = CustomerFactory(application=application, external_id="other")
    hub = ConnectionFactory(application=application, customer=other_customer, provider=provider_for("hubspot"))

    def ids(**params):
        return [c["id"] for c in api.get("/api/v1/connections", **params).json()["items"]]

    assert ids(customer_id="other") == [hub.pk]
    assert ids(provider="ms-dynamics-bc") == [bc_connection.pk]
    assert ids(status="healthy") == [bc_connection.pk]
    assert ids(category="crm") == [hub.pk]
    assert ids(customer_id="nobody") == []


def test_expand_adds_provider_and_connector(api, application, customer):
    config = ConnectorConfigFactory(application=application, provider=provider_for("hubspot"))
    connection = ConnectionFactory(application=application, customer=customer, connector_config=config)
    plain = api.get(f"/api/v1/connections/{connection.pk}").json()
    assert "provider" not in plain and "connector_config" not in plain
    expanded = api.get(f"/api/v1/connections/{connection.pk}", expand=["provider", "connector"]).json()
    assert expanded["provider"]["name"] == "hubspot"
    assert expanded["connector_config"]["id"] == config.pk and expanded["connector_config"]["has_client_secret"]


def _seed(application, customer, count):
    for _ in range(count):
        ConnectionFactory(application=application, customer=customer, provider=provider_for("ms-dynamics-bc"))


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/connections?limit=100",
        "/api/compat/stuut/v2/integrations/connections",
        "/api/compat/openint/connection?limit=100&refresh_policy=none",
        "/api/compat/supaglue/customers/acme-1/connections",
    ],
)
def test_list_query_count_is_constant(path, api, application, customer, django_assert_max_num_queries):
    from django.db import connection as db_connection
    from django.test.utils import CaptureQueriesContext

    api.get("/api/v1/providers")  # last_used_at is written on the first call of the minute; keep it out
    counts = []
    for total in (10, 100):
        Connection.objects.filter(application=application).delete()
        _seed(application, customer, total)
        with CaptureQueriesContext(db_connection) as ctx:
            response = api.client.get(path, headers=api.headers)
        assert response.status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts
    with django_assert_max_num_queries(
        5
    ):  # auth (1) + list (+ prefetch) ≤ 4, + count for OpenInt / customer for Supaglue
        api.client.get(path, headers=api.headers)


def test_native_list_is_at_most_four_queries_including_auth(api, application, customer, django_assert_max_num_queries):
    _seed(application, customer, 20)
    api.get("/api/v1/providers")
    with django_assert_max_num_queries(4):
        assert api.get("/api/v1/connections", limit=100).status_code == 200


def test_after_invalid_grant_the_api_gives_a_working_reconnect_link_and_stays_quiet(
    api, client, expired_bc_connection, bc_token_endpoint
):
    bc_token_endpoint.on("POST", "/token", status=400, body={"error": "invalid_grant"})
    first = api.get(f"/api/v1/connections/{expired_bc_connection.pk}", include_secrets="true")
    assert first.status_code == 200, first.content
    for _ in range(4):
        body = api.get(f"/api/v1/connections/{expired_bc_connection.pk}", refresh_policy="force").json()
    assert token_requests(bc_token_endpoint) == 1
    body = api.get(f"/api/v1/connections/{expired_bc_connection.pk}").json()
    assert body["status"] == "disconnected" and body["is_authentication_pending"] is True
    assert body["health"]["authentication_required"] is True
    link = body["authorization_url"]
    assert link and link.startswith("http://127.0.0.1:8000/connect/start/")
    start = client.get(link.removeprefix("http://127.0.0.1:8000"))
    assert start.status_code == 302 and start["Location"].startswith("https://login.microsoftonline.com/")
    assert (
        AuditEvent.objects.filter(action="connection.refresh_revoked", target_id=expired_bc_connection.pk).count() == 1
    )
