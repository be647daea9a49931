import base64
import contextlib
from datetime import timedelta
from urllib.parse import unquote_plus

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.connect.links import authorization_url, start_token
from apps.connections import services, tasks
from apps.connections.exceptions import (
    ConnectorNotConfigured,
    InvalidCredentials,
    InvalidGrant,
    MalformedTokenResponse,
    ProviderRejectedCode,
    ProviderUnavailable,
    SettingsInvalid,
)
from apps.connections.models import Connection, ConnectionModel
from apps.core.errors import ValidationFailed
from apps.webhooks.models import WebhookDelivery
from tests.connections.conftest import make_provider
from tests.factories import ConnectionFactory, ConnectorConfigFactory, provider_for


def token_body(access="at-1", refresh="rt-1", expires_in=3600, scope="read"):
    return {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "scope": scope,
    }


def raw_column(connection) -> str:
    return Connection.objects.filter(pk=connection.pk).values_list("credentials", flat=True)[0]


@pytest.fixture
def authenticated(application, customer, oauth_provider, connector_config, fake_provider):
    fake_provider.on("POST", "/token", body=token_body())
    fake_provider.on("GET", "/me", body={"id": "u1"})
    connection = services.connection_create(application=application, customer=customer, provider=oauth_provider)
    from apps.connections.provider_client import exchange_code

    token = exchange_code(
        connection=connection, config=connector_config, code="c", redirect_uri="https://x/cb", code_verifier=None
    )
    return services.connection_store_oauth_token(connection=connection, token_response=token)


def test_new_oauth_connection_is_pending_with_a_patchbay_authorization_url(
    application, customer, oauth_provider, connector_config
):
    connection = services.connection_create(application=application, customer=customer, provider=oauth_provider)
    assert connection.is_authentication_pending
    assert authorization_url(connection).startswith("http://127.0.0.1:8000/connect/start/")
    assert connection.credentials is None
    assert connection.requires_setup and not connection.is_configured


def test_oauth_connection_without_an_enabled_oauth_client_is_refused_and_nothing_is_written(
    application, customer, oauth_provider
):
    with pytest.raises(ConnectorNotConfigured, match="POST /api/v1/connector-configs"):
        services.connection_create(application=application, customer=customer, provider=oauth_provider)
    ConnectorConfigFactory(application=application, provider=oauth_provider, is_enabled=False)
    with pytest.raises(ConnectorNotConfigured):
        services.connection_create(application=application, customer=customer, provider=oauth_provider)
    assert not Connection.objects.filter(application=application).exists()
    assert not AuditEvent.objects.filter(action="connection.created").exists()


def test_storing_a_token_encrypts_it_clears_pending_and_verifies(authenticated, fake_provider):
    connection = Connection.objects.get(pk=authenticated.pk)
    assert not connection.is_authentication_pending
    assert authorization_url(connection) is None
    assert connection.status == Connection.Status.HEALTHY
    assert connection.health_status_code == "healthy"
    assert connection.scopes_granted == ["read"]
    assert connection.credentials["access_token"] == "at-1"
    assert raw_column(connection).startswith("pbv1:") and "at-1" not in raw_column(connection)
    assert fake_provider.calls("/me")[0].headers["Authorization"] == "Bearer at-1"
    assert connection.credentials_expires_at > timezone.now() + timedelta(minutes=59)


def test_body_client_auth_sends_client_secret_in_the_form(authenticated, fake_provider):
    form = fake_provider.calls("/token")[0].form
    assert form["client_id"] == "client-id"
    assert form["client_secret"] == "client-secret-value"
    assert form["grant_type"] == "authorization_code"


def test_basic_client_auth_uses_the_authorization_header(application, customer, fake_provider, db):
    provider = make_provider("basic-crm", fake_provider.url, oauth={"client_auth": "basic"})
    config = ConnectorConfigFactory(application=application, provider=provider)
    fake_provider.on("POST", "/token", body=token_body())
    connection = services.connection_create(application=application, customer=customer, provider=provider)
    from apps.connections.provider_client import exchange_code

    exchange_code(connection=connection, config=config, code="c", redirect_uri="https://x/cb", code_verifier="v" * 50)
    recorded = fake_provider.calls("/token")[0]
    assert recorded.headers["Authorization"].startswith("Basic ")
    assert "client_secret" not in recorded.form
    assert recorded.form["code_verifier"] == "v" * 50


def test_basic_client_auth_form_urlencodes_id_and_secret(application, customer, fake_provider, db):
    """RFC 6749 §2.3.1: a secret like `s3cret+/=a` must reach a compliant server intact."""
    provider = make_provider("basic-crm", fake_provider.url, oauth={"client_auth": "basic"})
    secret = {"client_secret": "s3cret+/=a"}
    config = ConnectorConfigFactory(
        application=application, provider=provider, client_id="id:with space", client_secret=secret
    )
    fake_provider.on("POST", "/token", body=token_body())
    connection = services.connection_create(application=application, customer=customer, provider=provider)
    from apps.connections.provider_client import exchange_code

    exchange_code(connection=connection, config=config, code="c", redirect_uri="https://x/cb", code_verifier=None)
    encoded = fake_provider.calls("/token")[0].headers["Authorization"].removeprefix("Basic ")
    client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
    assert (unquote_plus(client_id), unquote_plus(secret)) == ("id:with space", "s3cret+/=a")
    assert (client_id, secret) == ("id%3Awith+space", "s3cret%2B%2F%3Da")


def test_delete_revokes_at_the_provider_outside_any_transaction(authenticated, fake_provider):
    fake_provider.on("POST", "/revoke", body={})
    services.connection_delete(connection=authenticated)
    assert [call.form["token"] for call in fake_provider.calls("/revoke")] == ["rt-1"]
    assert not Connection.objects.filter(pk=authenticated.pk).exists()
    assert AuditEvent.objects.filter(action="connection.deleted", target_id=authenticated.pk).exists()


def test_a_grant_missing_a_required_scope_is_a_health_warning_naming_it(application, customer, fake_provider, db):
    provider = make_provider(
        "scoped-crm",
        fake_provider.url,
        scopes=[{"scope": "read", "kind": "default"}, {"scope": "offline_access", "kind": "required"}],
    )
    ConnectorConfigFactory(application=application, provider=provider)
    fake_provider.on("GET", "/me", body={"id": "u1"})
    connection = services.connection_create(application=application, customer=customer, provider=provider)
    stored = services.connection_store_oauth_token(connection=connection, token_response=token_body(scope="read"))
    assert stored.status == Connection.Status.ERROR and stored.health_status_code == "missing_scopes"
    assert "offline_access" in stored.health_message and stored.health_authentication_required
    full = services.connection_store_oauth_token(
        connection=stored, token_response=token_body(scope="read offline_access")
    )
    assert full.status == Connection.Status.HEALTHY


def test_failed_verification_records_health_but_keeps_the_token(
    application, customer, oauth_provider, connector_config, fake_provider
):
    fake_provider.on("GET", "/me", status=401, body={"message": "token revoked by admin"})
    connection = services.connection_create(application=application, customer=customer, provider=oauth_provider)
    connection = services.connection_store_oauth_token(connection=connection, token_response=token_body())
    assert connection.status == Connection.Status.ERROR
    assert connection.health_authentication_required
    assert connection.health_message == "token revoked by admin"


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, {"error": "invalid_grant", "error_description": "code expired"}, ProviderRejectedCode),
        (400, {"error": "invalid_client"}, ProviderRejectedCode),
        (503, {"error": "down"}, ProviderUnavailable),
        (200, {"token_type": "bearer"}, MalformedTokenResponse),
    ],
)
def test_token_endpoint_failures_become_domain_errors(
    application, customer, oauth_provider, connector_config, fake_provider, status, body, error
):
    fake_provider.on("POST", "/token", status=status, body=body)
    connection = services.connection_create(application=application, customer=customer, provider=oauth_provider)
    from apps.connections.provider_client import exchange_code

    with pytest.raises(error):
        exchange_code(
            connection=connection, config=connector_config, code="c", redirect_uri="https://x/cb", code_verifier=None
        )


def test_token_endpoint_html_error_page_is_a_malformed_response(
    application, customer, oauth_provider, connector_config, fake_provider
):
    fake_provider.on("POST", "/token", status=200, raw="<html>oops</html>")
    connection = services.connection_create(application=application, customer=customer, provider=oauth_provider)
    from apps.connections.provider_client import exchange_code

    with pytest.raises(MalformedTokenResponse):
        exchange_code(
            connection=connection, config=connector_config, code="c", redirect_uri="https://x/cb", code_verifier=None
        )


def test_token_endpoint_timeout_is_provider_unavailable(
    application, customer, oauth_provider, connector_config, fake_provider, settings
):
    settings.PATCHBAY_PROVIDER_TIMEOUT_SECONDS = 0.3
    fake_provider.on("POST", "/token", body=token_body(), delay=1.0)
    connection = services.connection_create(application=application, customer=customer, provider=oauth_provider)
    from apps.connections.provider_client import exchange_code

    with pytest.raises(ProviderUnavailable):
        exchange_code(
            connection=connection, config=connector_config, code="c", redirect_uri="https://x/cb", code_verifier=None
        )


def test_slack_style_quirks_nested_token_comma_scopes_and_ok_false(application, customer, fake_provider, db):
    provider = make_provider(
        "chat",
        fake_provider.url,
        oauth={
            "token_quirks": {
                "access_token_path": "authed_user.access_token",
                "scope_separator": ",",
                "error_field_when_ok": "ok",
            }
        },
    )
    config = ConnectorConfigFactory(application=application, provider=provider)
    fake_provider.on("GET", "/me", body={"ok": True})
    fake_provider.on(
        "POST",
        "/token",
        body={"ok": True, "authed_user": {"access_token": "xoxp-1", "scope": "x"}, "scope": "chat:write,users:read"},
    )
    connection = services.connection_create(application=application, customer=customer, provider=provider)
    from apps.connections.provider_client import exchange_code

    token = exchange_code(
        connection=connection, config=config, code="c", redirect_uri="https://x/cb", code_verifier=None
    )
    connection = services.connection_store_oauth_token(connection=connection, token_response=token)
    assert connection.credentials["access_token"] == "xoxp-1"
    assert connection.scopes_granted == ["chat:write", "users:read"]

    fake_provider.on("POST", "/token", body={"ok": False, "error": "invalid_code"})
    with pytest.raises(ProviderRejectedCode):
        exchange_code(connection=connection, config=config, code="c", redirect_uri="https://x/cb", code_verifier=None)


def test_settings_from_token_and_callback_are_recorded(application, customer, fake_provider, db):
    provider = make_provider(
        "books",
        fake_provider.url,
        settings=[
            {"name": "instance_url", "type": "url", "label": "Instance", "source": "provider"},
            {"name": "realm_id", "type": "string", "label": "Company", "source": "provider"},
        ],
        oauth={
            "token_quirks": {
                "settings_from_token": {"instance_url": "instance_url"},
                "settings_from_callback": {"realmId": "realm_id"},
            }
        },
    )
    ConnectorConfigFactory(application=application, provider=provider)
    fake_provider.on("GET", "/me", body={})
    connection = services.connection_create(application=application, customer=customer, provider=provider)
    assert connection.missing_settings == ["instance_url", "realm_id"]
    connection = services.connection_store_oauth_token(
        connection=connection,
        token_response={**token_body(), "instance_url": "https://eu1.example.com"},
        callback_params={"realmId": "4620816365"},
    )
    assert connection.settings == {"instance_url": "https://eu1.example.com", "realm_id": "4620816365"}
    assert connection.is_configured


def test_refresh_rotates_and_persists_the_new_refresh_token(authenticated, fake_provider):
    fake_provider.on("POST", "/token", body=token_body(access="at-2", refresh="rt-2"))
    refreshed = services.connection_refresh_credentials(connection_id=authenticated.pk, force=True)
    assert refreshed.credentials["access_token"] == "at-2"
    stored = Connection.objects.get(pk=authenticated.pk)
    assert stored.credentials["refresh_token"] == "rt-2"
    form = fake_provider.calls("/token")[-1].form
    assert form["grant_type"] == "refresh_token" and form["refresh_token"] == "rt-1"


def test_refresh_keeps_the_old_refresh_token_when_the_provider_does_not_rotate(authenticated, fake_provider):
    fake_provider.on("POST", "/token", body={"access_token": "at-3", "token_type": "bearer", "expires_in": 60})
    services.connection_refresh_credentials(connection_id=authenticated.pk, force=True)
    assert Connection.objects.get(pk=authenticated.pk).credentials["refresh_token"] == "rt-1"


def test_auto_policy_skips_fresh_tokens_and_refreshes_expired_ones(authenticated, fake_provider):
    before = len(fake_provider.calls("/token"))
    same = services.connection_with_fresh_credentials(connection=authenticated, policy="auto")
    assert same.credentials["access_token"] == "at-1"
    assert len(fake_provider.calls("/token")) == before
    expired_at = timezone.now() - timedelta(seconds=5)
    Connection.objects.filter(pk=authenticated.pk).update(credentials_expires_at=expired_at, refresh_due_at=expired_at)
    fake_provider.on("POST", "/token", body=token_body(access="at-9"))
    expired = Connection.objects.get(pk=authenticated.pk)
    fresh = services.connection_with_fresh_credentials(connection=expired, policy="auto")
    assert fresh.credentials["access_token"] == "at-9"


def test_invalid_grant_is_terminal_and_quiet(authenticated, fake_provider, application):
    """One webhook, one audit row, no further provider calls however often it is read, a reconnect link."""
    application.webhook_url = "https://hooks.acme.test/patchbay"
    application.save()
    fake_provider.on("POST", "/token", status=400, body={"error": "invalid_grant"})
    token_requests = len(fake_provider.calls("/token"))
    with pytest.raises(InvalidGrant):
        services.connection_refresh_credentials(connection_id=authenticated.pk, force=True)
    for policy in ("auto", "force", "auto", "force", "auto"):
        read = Connection.objects.get(pk=authenticated.pk)
        with contextlib.suppress(InvalidGrant):
            services.connection_with_fresh_credentials(connection=read, policy=policy)
    assert tasks.refresh_expiring_credentials() == 0
    connection = Connection.objects.get(pk=authenticated.pk)
    assert len(fake_provider.calls("/token")) == token_requests + 1
    assert connection.status == Connection.Status.DISCONNECTED
    assert connection.health_authentication_required and connection.health_status_code == "invalid_grant"
    assert connection.credentials is None and connection.is_authentication_pending
    assert authorization_url(connection) and authorization_url(connection).endswith(start_token(connection))
    deliveries = WebhookDelivery.objects.filter(application=application, event_type="connection.disconnected")
    assert deliveries.count() == 1
    assert AuditEvent.objects.filter(action="connection.refresh_revoked", target_id=connection.pk).count() == 1


def test_refresh_5xx_counts_against_the_budget_then_marks_error(authenticated, fake_provider):
    fake_provider.on("POST", "/token", status=502, body={})
    for _ in range(services.REFRESH_FAILURE_BUDGET):
        with pytest.raises(ProviderUnavailable):
            services.connection_refresh_credentials(connection_id=authenticated.pk, force=True)
    connection = Connection.objects.get(pk=authenticated.pk)
    assert connection.refresh_failure_count == services.REFRESH_FAILURE_BUDGET
    assert connection.status == Connection.Status.ERROR


def test_api_key_credentials_are_verified_before_they_are_saved(application, customer, fake_provider, db):
    provider = make_provider(
        "keyed",
        fake_provider.url,
        auth_type="api_key",
        oauth=None,
        credentials={
            "fields": [{"name": "api_key", "label": "API key"}],
            "inject": {"in": "header", "name": "X-Api-Key", "value": "{credentials.api_key}"},
        },
    )
    fake_provider.on(
        "GET",
        "/me",
        body=lambda r: (200, {}) if r.headers.get("X-Api-Key") == "good" else (401, {"message": "Invalid API key"}),
    )
    with pytest.raises(InvalidCredentials, match="Invalid API key"):
        services.connection_create(
            application=application, customer=customer, provider=provider, credentials={"api_key": "bad"}
        )
    connection = services.connection_create(
        application=application, customer=customer, provider=provider, credentials={"api_key": "good"}
    )
    assert connection.status == Connection.Status.HEALTHY and not connection.is_authentication_pending
    with pytest.raises(InvalidCredentials):
        services.connection_store_api_credentials(connection=connection, credentials={"api_key": "bad"})
    assert Connection.objects.get(pk=connection.pk).credentials["api_key"] == "good"
    with pytest.raises(SettingsInvalid):
        services.connection_store_api_credentials(connection=connection, credentials={"api_key": ""})


def test_metadata_is_shallow_merged_and_null_deletes(authenticated):
    services.connection_update(connection=authenticated, metadata={"a": 1, "b": {"x": 1}})
    updated = services.connection_update(connection=authenticated, metadata={"a": None, "b": {"y": 2}, "c": "z"})
    assert updated.metadata == {"b": {"y": 2}, "c": "z"}


def test_settings_are_validated_against_the_provider_spec(application, customer, fake_provider, db):
    provider = make_provider(
        "erp",
        fake_provider.url,
        settings=[
            {"name": "environment", "type": "string", "label": "Environment", "enum": ["Production", "Sandbox"]},
            {"name": "is_on_premise", "type": "boolean", "label": "On premise", "required": False},
        ],
    )
    ConnectorConfigFactory(application=application, provider=provider)
    connection = services.connection_create(application=application, customer=customer, provider=provider)
    with pytest.raises(SettingsInvalid) as excinfo:
        services.connection_update_settings(connection=connection, settings={"environment": "Prod", "nope": 1})
    assert set(excinfo.value.errors) == {"environment", "nope"}
    updated = services.connection_update_settings(
        connection=connection, settings={"environment": "Sandbox", "is_on_premise": "on"}
    )
    assert updated.settings == {"environment": "Sandbox", "is_on_premise": True}
    assert updated.missing_settings == []


def test_disconnect_revokes_wipes_and_voids_old_links(authenticated, fake_provider):
    fake_provider.on("POST", "/revoke", body={})
    old_token = start_token(authenticated)
    connection = services.connection_disconnect(connection=authenticated)
    assert fake_provider.calls("/revoke")[0].form["token"] == "rt-1"
    stored = Connection.objects.get(pk=connection.pk)
    assert stored.credentials is None and raw_column(stored) is None
    assert stored.status == Connection.Status.DISCONNECTED and stored.is_authentication_pending
    assert start_token(stored) != old_token
    assert AuditEvent.objects.filter(action="connection.disconnected", target_id=connection.pk).exists()


def test_client_credentials_provider_fetches_its_token_server_side(application, customer, fake_provider, db):
    provider = make_provider("machine", fake_provider.url, auth_type="oauth2_client_credentials")
    ConnectorConfigFactory(application=application, provider=provider)
    fake_provider.on("POST", "/token", body={"access_token": "m2m", "token_type": "bearer", "expires_in": 600})
    fake_provider.on("GET", "/me", body={})
    connection = services.connection_create(application=application, customer=customer, provider=provider)
    assert connection.credentials["access_token"] == "m2m"
    assert fake_provider.calls("/token")[0].form["grant_type"] == "client_credentials"
    assert not connection.is_authentication_pending


def test_templated_scopes_and_provider_specific_token_headers(application, customer, fake_provider, db):
    provider = make_provider(
        "shop",
        fake_provider.url,
        settings=[{"name": "org", "type": "string", "label": "Org", "ask_before_authorize": True}],
        scopes=[{"scope": "https://{settings.org}.example.com/user_impersonation", "kind": "required"}],
        verification={"url": f"{fake_provider.url}/me", "headers": {"X-Shop-Token": "{credentials.access_token}"}},
    )
    config = ConnectorConfigFactory(application=application, provider=provider)
    connection = services.connection_create(
        application=application, customer=customer, provider=provider, settings={"org": "acme"}
    )
    from apps.connections.provider_client import authorize_url

    url = authorize_url(
        connection=connection, config=config, redirect_uri="https://x/cb", state="s", code_challenge=None
    )
    assert "scope=https%3A%2F%2Facme.example.com%2Fuser_impersonation" in url
    fake_provider.on("GET", "/me", body={})
    services.connection_store_oauth_token(connection=connection, token_response=token_body())
    headers = fake_provider.calls("/me")[0].headers
    assert headers["X-Shop-Token"] == "at-1"
    assert "Authorization" not in headers


def test_verification_waits_for_settings_then_runs_when_they_are_complete(application, customer, fake_provider, db):
    provider = make_provider(
        "erp-env",
        fake_provider.url,
        settings=[{"name": "environment", "type": "string", "label": "Environment"}],
        verification={"url": f"{fake_provider.url}/" + "{settings.environment}/companies"},
    )
    ConnectorConfigFactory(application=application, provider=provider)
    fake_provider.on("GET", "/Production/companies", body={"value": []})
    connection = services.connection_create(application=application, customer=customer, provider=provider)
    connection = services.connection_store_oauth_token(connection=connection, token_response=token_body())
    assert connection.status == Connection.Status.UNKNOWN
    assert connection.health_status_code == "awaiting_settings"
    assert connection.missing_settings == ["environment"]
    connection = services.connection_update_settings(connection=connection, settings={"environment": "Production"})
    assert connection.is_configured and connection.status == Connection.Status.HEALTHY
    assert len(fake_provider.calls("/Production/companies")) == 1


def test_tokens_never_travel_over_plain_http_to_a_remote_host(application, customer, fake_provider, db):
    provider = make_provider(
        "plain-http",
        fake_provider.url,
        settings=[{"name": "host", "type": "string", "label": "Host", "ask_before_authorize": True}],
        oauth={"token_url": "https://{settings.host}/token"},
    )
    provider.definition["oauth"]["token_url"] = "http://{settings.host}/token"  # what the catalog would refuse
    provider.save()
    config = ConnectorConfigFactory(application=application, provider=provider)
    connection = services.connection_create(
        application=application, customer=customer, provider=provider, settings={"host": "evil.example"}
    )
    from apps.connections.exceptions import InsecureProviderUrl
    from apps.connections.provider_client import exchange_code

    with pytest.raises(InsecureProviderUrl):
        exchange_code(connection=connection, config=config, code="c", redirect_uri="https://x/cb", code_verifier=None)


def test_oauth_provider_without_verification_is_unverified_even_after_a_refresh_recovers(
    application, customer, fake_provider, db
):
    provider = make_provider("unchecked-crm", fake_provider.url, verification=None)
    ConnectorConfigFactory(application=application, provider=provider)
    connection = services.connection_create(application=application, customer=customer, provider=provider)
    connection = services.connection_store_oauth_token(connection=connection, token_response=token_body())
    assert connection.status == Connection.Status.UNVERIFIED and connection.health_status_code == "unverified"
    assert fake_provider.calls("/me") == []

    fake_provider.on("POST", "/token", status=502, body={})
    for _ in range(services.REFRESH_FAILURE_BUDGET):
        with pytest.raises(ProviderUnavailable):
            services.connection_refresh_credentials(connection_id=connection.pk, force=True)
    assert Connection.objects.get(pk=connection.pk).status == Connection.Status.ERROR
    fake_provider.on("POST", "/token", body=token_body(access="at-2"))
    recovered = services.connection_refresh_credentials(connection_id=connection.pk, force=True)
    assert recovered.status == Connection.Status.UNVERIFIED and "Not verified" in recovered.health_message


def test_connection_model_update_turns_supported_directions_on_and_refuses_others(db):
    connection = ConnectionFactory(provider=provider_for("patchbay-sandbox"))
    contacts = ConnectionModel.objects.create(
        connection=connection, name="contacts", display_name="Contacts", is_write_supported=True
    )
    services.connection_model_update(model=contacts, is_write_enabled=True, actor="staff:root")
    event = AuditEvent.objects.get(action="connection.model_updated")
    assert (event.target_type, event.target_id, event.application_id, event.actor) == (
        "connection", connection.pk, connection.application_id, "staff:root"
    )  # fmt: skip
    assert event.data == {
        "model": "contacts",
        "fields": ["is_write_enabled"],
        "changes": {"is_write_enabled": [False, True]},
    }

    ConnectionModel.objects.filter(pk=contacts.pk).update(is_write_supported=False, is_write_enabled=False)
    with pytest.raises(ValidationFailed) as refused:
        services.connection_model_update(model=contacts, is_write_enabled=True, is_read_enabled=False)
    assert refused.value.details == {
        "fields": {"is_write_enabled": ["Contacts: the provider does not support writing this model."]}
    }
    contacts.refresh_from_db()
    assert (contacts.is_read_enabled, contacts.is_write_enabled) == (True, False)
    services.connection_model_update(model=contacts, is_read_enabled=True, is_write_enabled=False)
    assert AuditEvent.objects.filter(action="connection.model_updated").count() == 1
