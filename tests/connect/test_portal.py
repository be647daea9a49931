"""Connect sessions, signed portal links, widget framing, and the customer portal's actions."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.connect.links import start_path
from apps.connect.models import ConnectSession
from apps.connect.services import (
    connect_session_create,
    connect_session_url,
    customer_portal_link,
)
from apps.connections.models import Connection
from apps.connections.services import connection_create
from apps.core.errors import ValidationFailed
from apps.tenants.services import hash_secret
from tests.factories import (
    ApplicationFactory,
    ConnectionFactory,
    ConnectorConfigFactory,
    CustomerFactory,
    provider_for,
)

pytestmark = pytest.mark.django_db


def open_portal(client, application, customer, **kwargs):
    _session, token = connect_session_create(application=application, customer=customer, **kwargs)
    response = client.get(connect_session_url(token).removeprefix("http://127.0.0.1:8000"))
    assert response.status_code == 302
    assert response["Location"] == "/connect/portal/"
    return token


def test_connect_session_stores_only_the_hash(application, customer):
    session, token = connect_session_create(application=application, customer=customer)
    assert token.startswith("cst_")
    assert session.token_hash == hash_secret(token)
    assert not ConnectSession.objects.filter(token_hash=token).exists()
    assert connect_session_url(token).endswith(f"/connect/session/{token}")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"return_url": "https://evil.example/steal"},
        {"return_url": "javascript:alert(1)"},
        {"return_url": "https://app.acme.test.evil.example/"},
        {"allowed_origin": "https://evil.example"},
        {"allowed_origin": "https://app.acme.test/path"},
    ],
)
def test_connect_session_refuses_origins_outside_the_application(application, customer, kwargs):
    with pytest.raises(ValidationFailed) as excinfo:
        connect_session_create(application=application, customer=customer, **kwargs)
    assert "allowed origin" in str(excinfo.value) or "origin only" in str(excinfo.value)


def test_connect_session_is_single_use(client, application, customer):
    token = open_portal(client, application, customer)
    again = client.get(f"/connect/session/{token}")
    assert again.status_code == 410
    assert "already been opened" in again.content.decode()


def test_expired_and_unknown_connect_sessions_show_clear_pages(client, application, customer):
    session, token = connect_session_create(application=application, customer=customer)
    ConnectSession.objects.filter(pk=session.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = client.get(f"/connect/session/{token}")
    assert expired.status_code == 410
    assert "expired" in expired.content.decode()
    unknown = client.get("/connect/session/cst_nope")
    assert unknown.status_code == 404
    assert "not valid" in unknown.content.decode()


def test_portal_without_a_session_is_a_clear_page(client):
    response = client.get("/connect/portal/")
    assert response.status_code == 403
    assert "session has ended" in response.content.decode()


def test_portal_is_framable_only_by_the_sessions_origin(client, application, customer):
    open_portal(
        client,
        application,
        customer,
        allowed_origin="https://app.acme.test",
        return_url="https://app.acme.test/settings/integrations",
    )
    response = client.get("/connect/portal/")
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == "frame-ancestors https://app.acme.test"
    assert "X-Frame-Options" not in response
    # Form pages use same-origin: under no-referrer browsers send "Origin: null" and CSRF must refuse the POST.
    assert response["Referrer-Policy"] == "same-origin"
    assert 'href="https://app.acme.test/settings/integrations"' in response.content.decode()


def test_portal_falls_back_to_the_applications_origins_for_framing(client, customer):
    application = customer.application
    application.allowed_origins = ["https://a.example", "https://b.example"]
    application.save()
    open_portal(client, application, customer)
    response = client.get("/connect/portal/")
    assert response["Content-Security-Policy"] == "frame-ancestors https://a.example https://b.example"


def test_pages_outside_a_widget_cannot_be_framed(client):
    response = client.get("/connect/start/not-a-token")
    assert response["X-Frame-Options"] == "DENY"
    assert response["Content-Security-Policy"] == "frame-ancestors 'none'"


def test_signed_portal_link_opens_the_portal_until_it_expires(client, customer):
    link = customer_portal_link(customer=customer, ttl=600)
    response = client.get(link.removeprefix("http://127.0.0.1:8000"))
    assert response.status_code == 302
    assert client.get("/connect/portal/").status_code == 200
    tampered = client.get(link.removeprefix("http://127.0.0.1:8000")[:-3] + "xyz")
    assert tampered.status_code == 404
    expired = customer_portal_link(customer=customer, ttl=-1)
    assert client.get(expired.removeprefix("http://127.0.0.1:8000")).status_code == 410


def test_portal_lists_the_customers_connections_with_badges(client, application, customer):
    sandbox = provider_for("patchbay-sandbox")
    ConnectionFactory(application=application, customer=customer, provider=sandbox, display_name="Pending one")
    ConnectionFactory(
        application=application,
        customer=customer,
        provider=sandbox,
        display_name="Healthy one",
        is_authentication_pending=False,
        status=Connection.Status.HEALTHY,
        settings={"workspace": "acme-demo"},
    )
    other_customer = CustomerFactory(application=application)
    ConnectionFactory(application=application, customer=other_customer, provider=sandbox, display_name="Not mine")
    open_portal(client, application, customer)

    body = client.get("/connect/portal/").content.decode()

    assert "Pending one" in body and "Healthy one" in body
    assert "Not mine" not in body
    assert 'data-badge="pending"' in body and 'data-badge="healthy"' in body
    assert 'hx-trigger="every 3s"' in body


def test_badges_stop_polling_when_nothing_is_pending(client, application, customer):
    ConnectionFactory(
        application=application,
        customer=customer,
        provider=provider_for("patchbay-sandbox"),
        is_authentication_pending=False,
        status=Connection.Status.HEALTHY,
        settings={},
    )
    open_portal(client, application, customer)
    body = client.get("/connect/portal/connections/").content.decode()
    assert 'data-badge="needs-settings"' in body
    assert "every 3s" not in body


def test_provider_picker_searches_with_a_constant_query_count(client, application, customer, django_assert_num_queries):
    open_portal(client, application, customer)
    with django_assert_num_queries(3) as first:  # session, customer, providers
        all_providers = client.get("/connect/portal/providers/").content.decode()
    with django_assert_num_queries(len(first.captured_queries)):
        filtered = client.get("/connect/portal/providers/", {"q": "sandbox", "category": "sandbox"}).content.decode()
    assert "patchbay-sandbox-keys" in filtered
    # OAuth providers the application has no connector config for are not offered.
    assert 'data-provider="patchbay-sandbox"' not in all_providers
    assert 'data-provider="patchbay-sandbox-keys"' in all_providers


def test_picker_offers_an_oauth_provider_only_with_an_enabled_oauth_client(client, application, customer):
    open_portal(client, application, customer)
    config = ConnectorConfigFactory(application=application, provider=provider_for("hubspot"), is_enabled=False)
    assert 'data-provider="hubspot"' not in client.get("/connect/portal/providers/").content.decode()
    assert client.post("/connect/portal/add/hubspot").status_code == 404
    config.is_enabled = True
    config.save()
    assert 'data-provider="hubspot"' in client.get("/connect/portal/providers/").content.decode()
    added = client.post("/connect/portal/add/hubspot")
    assert added.status_code == 302
    assert added["Location"] == start_path(Connection.objects.get(customer=customer, provider__name="hubspot"))


def test_allowed_providers_limit_the_picker_and_adding(client, application, customer):
    open_portal(client, application, customer, allowed_providers=["patchbay-sandbox-keys"])
    assert client.post("/connect/portal/add/patchbay-sandbox").status_code == 404
    response = client.post("/connect/portal/add/patchbay-sandbox-keys")
    assert response.status_code == 302
    connection = Connection.objects.get(customer=customer)
    assert response["Location"] == start_path(connection)


def test_portal_actions_on_another_applications_connection_are_404(client, application, customer):
    stranger = ConnectionFactory(
        application=ApplicationFactory(),
        provider=provider_for("patchbay-sandbox-keys"),
        is_authentication_pending=False,
        status=Connection.Status.HEALTHY,
    )
    same_app_other_customer = ConnectionFactory(
        application=application, provider=provider_for("patchbay-sandbox-keys"), is_authentication_pending=False
    )
    open_portal(client, application, customer)
    for target in (stranger, same_app_other_customer):
        assert client.post(f"/connect/portal/c/{target.pk}/disconnect").status_code == 404
        assert client.post(f"/connect/portal/c/{target.pk}/reconnect").status_code == 404
        assert client.get(f"/connect/portal/c/{target.pk}/credentials").status_code == 404
        assert client.get(f"/connect/setup/{target.pk}/").status_code == 404
        assert client.get(f"/connect/done/{target.pk}/").status_code == 404
    stranger.refresh_from_db()
    assert stranger.status == Connection.Status.HEALTHY


def test_disconnect_from_the_portal(client, application, customer):
    connection = ConnectionFactory(
        application=application,
        customer=customer,
        provider=provider_for("patchbay-sandbox-keys"),
        is_authentication_pending=False,
        status=Connection.Status.HEALTHY,
        credentials={"type": "api_key", "api_key": "sk_sandbox_x"},
    )
    open_portal(client, application, customer)
    response = client.post(f"/connect/portal/c/{connection.pk}/disconnect")
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.status == Connection.Status.DISCONNECTED
    assert connection.credentials is None
    assert 'data-badge="disconnected"' in client.get("/connect/portal/").content.decode()


def test_reconnect_an_oauth_connection_that_is_not_pending_issues_a_fresh_attempt(
    client, application, customer, acme_config
):
    connection = connection_create(
        application=application, customer=customer, provider=acme_config.provider, settings={"tenant": "acme"}
    )
    Connection.objects.filter(pk=connection.pk).update(is_authentication_pending=False, status="healthy")
    open_portal(client, application, customer)
    response = client.post(f"/connect/portal/c/{connection.pk}/reconnect")
    assert response.status_code == 302
    assert "/acme/authorize?" in response["Location"]
    assert connection.oauth_attempts.count() == 1


def test_setting_validation_fragment(client):
    bad = client.post("/connect/validate/patchbay-sandbox/workspace", {"workspace": "NO WAY"})
    assert bad.status_code == 200
    body = bad.content.decode()
    assert body.strip().startswith('<div class="field field-invalid" id="field-workspace">')
    assert "expected format" in body
    assert "<html" not in body
    good = client.post("/connect/validate/patchbay-sandbox/workspace", {"workspace": "acme-demo"})
    assert "Looks good" in good.content.decode()
    assert client.post("/connect/validate/patchbay-sandbox/nope", {}).status_code == 404
