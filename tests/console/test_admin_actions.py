"""Admin writes go through services: keys shown once, secrets write-only, actions call the domain services."""

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from apps.audit.models import AuditEvent
from apps.catalog.models import ConnectorConfig, Provider
from apps.connections.models import Connection
from apps.tenants.models import ApiKey, Application
from apps.tenants.selectors import api_key_authenticate
from apps.tenants.services import api_key_create, webhook_secret_new
from tests.factories import ApplicationFactory, CustomerFactory, StaffUserFactory, provider_for
from tests.provider_server import running_fake_provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(StaffUserFactory(username="root"))
    return client


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_creating_an_api_key_shows_the_plaintext_once(staff_client):
    application = ApplicationFactory()
    response = staff_client.post(
        reverse("admin:tenants_apikey_add"), {"application": application.pk, "name": "From admin"}, follow=True
    )
    assert response.status_code == 200
    html = response.content.decode()
    raw = re.search(r"pb_live_[A-Za-z0-9_-]+", html).group(0)
    api_key = ApiKey.objects.get(name="From admin")
    assert api_key_authenticate(raw_key=raw) == api_key
    assert api_key.key_hash not in html
    # Never again: not on the change page, not in the list.
    for url in (reverse("admin:tenants_apikey_change", args=[api_key.pk]), reverse("admin:tenants_apikey_changelist")):
        page = staff_client.get(url).content.decode()
        assert raw not in page
        assert api_key.key_hash not in page
        assert api_key.prefix in page
    assert AuditEvent.objects.filter(action="api_key.created", actor="staff:root").exists()


def test_revoke_action_uses_the_service(staff_client):
    api_key, raw = api_key_create(application=ApplicationFactory())
    response = staff_client.post(
        reverse("admin:tenants_apikey_changelist"),
        {"action": "revoke_keys", "_selected_action": [api_key.pk]},
        follow=True,
    )
    assert "Revoked 1 API key(s)." in messages_of(response)
    assert api_key_authenticate(raw_key=raw) is None
    assert AuditEvent.objects.filter(action="api_key.revoked", actor="staff:root").exists()


def test_application_add_makes_a_webhook_secret_and_normalises_origins(staff_client):
    response = staff_client.post(
        reverse("admin:tenants_application_add"),
        {
            "name": "Globex",
            "slug": "globex",
            "allowed_origins": "HTTPS://Globex.test/\nhttp://localhost:3000",
            "webhook_url": "",
            "brand_color": "#112233",
            "logo_url": "",
            "api_keys-TOTAL_FORMS": "0",
            "api_keys-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    application = Application.objects.get(slug="globex")
    assert application.allowed_origins == ["https://globex.test", "http://localhost:3000"]
    assert application.brand_color == "#112233"
    assert application.__dict__["webhook_secret"].startswith("pbv1:")


def test_application_form_rejects_non_origins(staff_client):
    response = staff_client.post(
        reverse("admin:tenants_application_add"),
        {"name": "Bad", "slug": "bad", "allowed_origins": "https://bad.test/path", "brand_color": "#112233",
         "api_keys-TOTAL_FORMS": "0", "api_keys-INITIAL_FORMS": "0"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "must be an origin only" in response.content.decode()
    assert not Application.objects.filter(slug="bad").exists()


def test_connector_config_secret_is_write_only(staff_client):
    application = ApplicationFactory()
    provider = provider_for("patchbay-sandbox")
    url = reverse("admin:catalog_connectorconfig_add")
    data = {"application": application.pk, "provider": provider.pk, "is_enabled": "on", "client_id": "cid",
            "new_client_secret": "sekrit-token-123", "scopes": "[]", "default_settings": "{}"}  # fmt: skip
    response = staff_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    config = ConnectorConfig.objects.get(application=application, provider=provider)
    assert config.secret_value == "sekrit-token-123"

    change_url = reverse("admin:catalog_connectorconfig_change", args=[config.pk])
    page = staff_client.get(change_url).content.decode()
    assert "sekrit-token-123" not in page
    assert "•••• (set)" in page
    assert 'name="new_client_secret"' in page

    # Saving without a new secret keeps the old one; a new one replaces it.
    change = {"is_enabled": "on", "client_id": "cid2", "new_client_secret": "", "scopes": "[]",
              "default_settings": "{}"}  # fmt: skip
    assert staff_client.post(change_url, change).status_code == 302
    config = ConnectorConfig.objects.get(pk=config.pk)
    assert (config.client_id, config.secret_value) == ("cid2", "sekrit-token-123")
    assert staff_client.post(change_url, {**change, "new_client_secret": "rotated"}).status_code == 302
    assert ConnectorConfig.objects.get(pk=config.pk).secret_value == "rotated"


def test_provider_is_read_only_and_catalog_reloads(staff_client):
    provider = provider_for("patchbay-sandbox")
    assert staff_client.get(reverse("admin:catalog_provider_add")).status_code == 403
    page = staff_client.get(reverse("admin:catalog_provider_change", args=[provider.pk])).content.decode()
    assert 'name="display_name"' not in page
    Provider.objects.filter(pk=provider.pk).update(display_name="Renamed by hand", content_hash="stale")
    response = staff_client.post(reverse("admin:catalog_provider_reload"), follow=True)
    assert any(m.startswith("Catalog reloaded") for m in messages_of(response))
    assert Provider.objects.get(pk=provider.pk).display_name != "Renamed by hand"


def test_connection_change_page_shows_derived_state(staff_client):
    application = ApplicationFactory()
    connection = Connection.objects.create(
        application=application,
        customer=CustomerFactory(application=application),
        provider=provider_for("patchbay-sandbox"),
        credentials={"access_token": "sekrit-token-123"},
    )
    page = staff_client.get(reverse("admin:connections_connection_change", args=[connection.pk])).content.decode()
    assert "Reconnect link" in page and "/connect/start/" in page
    assert "Missing settings" in page and "Configured" in page
    assert "sekrit-token-123" not in page


def test_connection_add_goes_through_connection_create(staff_client):
    application = ApplicationFactory()
    customer = CustomerFactory(application=application)
    provider = provider_for("patchbay-sandbox")
    ConnectorConfig.objects.create(
        application=application, provider=provider, client_id="cid", client_secret={"client_secret": "s"}
    )
    response = staff_client.post(
        reverse("admin:connections_connection_add"),
        {"application": application.pk, "customer": customer.pk, "provider": provider.pk, "display_name": "Via admin",
         "settings": "{}", "metadata": '{"team": "ops"}'},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:3000]
    connection = Connection.objects.get(display_name="Via admin")
    assert connection.is_authentication_pending
    assert connection.metadata == {"team": "ops"}
    assert connection.customer == customer


def test_connection_add_refuses_a_customer_of_another_application(staff_client):
    application, other = ApplicationFactory(), ApplicationFactory()
    provider = provider_for("patchbay-sandbox")
    response = staff_client.post(
        reverse("admin:connections_connection_add"),
        {"application": application.pk, "customer": CustomerFactory(application=other).pk, "provider": provider.pk,
         "display_name": "Wrong", "settings": "{}", "metadata": "{}"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "belongs to another application" in response.content.decode()
    assert not Connection.objects.filter(display_name="Wrong").exists()


def test_connection_edit_merges_metadata_through_the_service(staff_client):
    application = ApplicationFactory()
    connection = Connection.objects.create(
        application=application,
        customer=CustomerFactory(application=application),
        provider=provider_for("patchbay-sandbox"),
        metadata={"keep": 1, "drop": 2},
    )
    url = reverse("admin:connections_connection_change", args=[connection.pk])
    response = staff_client.post(
        url,
        {"display_name": "Renamed", "settings": "{}", "metadata": '{"keep": 1, "new": 3}',
         "models-TOTAL_FORMS": "0", "models-INITIAL_FORMS": "0",
         "sync_runs-TOTAL_FORMS": "0", "sync_runs-INITIAL_FORMS": "0"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:3000]
    connection.refresh_from_db()
    assert connection.display_name == "Renamed"
    assert connection.metadata == {"keep": 1, "new": 3}


@pytest.fixture
def receiver():
    with running_fake_provider() as provider:
        provider.on("POST", "/hooks", body={})
        yield provider


def test_webhook_deliver_now_sends_pending_deliveries(staff_client, receiver, django_capture_on_commit_callbacks):
    from apps.webhooks.models import WebhookDelivery

    application = ApplicationFactory(webhook_secret={"secret": webhook_secret_new()})
    url = f"{receiver.url}/hooks"
    later = timezone.now() + timedelta(hours=1)
    pending = WebhookDelivery.objects.create(
        application=application,
        event_type="connection.created",
        payload={"id": "evt_1"},
        url=url,
        next_attempt_at=later,
    )
    delivered = WebhookDelivery.objects.create(
        application=application, event_type="connection.created", payload={"id": "evt_2"}, url=url,
        status=WebhookDelivery.Status.DELIVERED,
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            reverse("admin:webhooks_webhookdelivery_changelist"),
            {"action": "deliver_now", "_selected_action": [pending.pk, delivered.pk]},
            follow=True,
        )
    assert "Queued 1 pending delivery attempt(s)." in messages_of(response)
    assert [r.headers["webhook-id"] for r in receiver.calls("/hooks")] == ["evt_1"]
    assert WebhookDelivery.objects.get(pk=pending.pk).status == WebhookDelivery.Status.DELIVERED


def test_send_test_webhook_action_delivers_a_signed_test_event(
    staff_client, receiver, django_capture_on_commit_callbacks
):
    secret = webhook_secret_new()
    application = ApplicationFactory(webhook_url=f"{receiver.url}/hooks", webhook_secret={"secret": secret})
    without_url = ApplicationFactory(webhook_url="")
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            reverse("admin:tenants_application_changelist"),
            {"action": "send_test_webhook", "_selected_action": [application.pk, without_url.pk]},
            follow=True,
        )
    shown = " ".join(messages_of(response))
    assert "queued to" in shown and "has no webhook URL" in shown
    request = receiver.calls("/hooks")[0]
    assert Webhook(secret).verify(request.body, request.headers)["type"] == "webhook.test"


def test_rotate_webhook_secret_action_shows_the_new_secret_once(staff_client):
    old = webhook_secret_new()
    application = ApplicationFactory(webhook_secret={"secret": old})
    response = staff_client.post(
        reverse("admin:tenants_application_changelist"),
        {"action": "rotate_webhook_secret", "_selected_action": [application.pk]},
        follow=True,
    )
    shown = re.search(r"whsec_[A-Za-z0-9+/=]+", " ".join(messages_of(response))).group(0)
    stored = Application.objects.get(pk=application.pk).webhook_secret
    assert stored["secret"] == shown != old
    assert [p["secret"] for p in stored["previous"]] == [old]
    assert AuditEvent.objects.filter(action="application.webhook_secret_rotated", target_id=application.pk).exists()
    page = staff_client.get(reverse("admin:tenants_application_change", args=[application.pk])).content.decode()
    assert shown not in page and old not in page


def test_connection_settings_are_validated_against_the_provider_spec(staff_client):
    application = ApplicationFactory()
    connection = Connection.objects.create(
        application=application,
        customer=CustomerFactory(application=application),
        provider=provider_for("salesforce"),
        settings={"login_host": "login.salesforce.com"},
    )
    url = reverse("admin:connections_connection_change", args=[connection.pk])
    form = {"display_name": "", "settings": '{"login_host": "evil.example.com"}', "metadata": "{}",
            "models-TOTAL_FORMS": "0", "models-INITIAL_FORMS": "0",
            "sync_runs-TOTAL_FORMS": "0", "sync_runs-INITIAL_FORMS": "0"}  # fmt: skip
    response = staff_client.post(url, form)
    assert response.status_code == 200
    errors = re.search(r'<ul class="errorlist nonfield">(.*?)</ul>', response.content.decode(), re.S)
    assert errors and "login_host: " in errors.group(1)
    assert Connection.objects.get(pk=connection.pk).settings == {"login_host": "login.salesforce.com"}
    response = staff_client.post(url, {**form, "settings": '{"login_host": "test.salesforce.com"}'})
    assert response.status_code == 302
    assert Connection.objects.get(pk=connection.pk).settings["login_host"] == "test.salesforce.com"
