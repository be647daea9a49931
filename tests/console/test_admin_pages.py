"""Every admin page renders for a superuser, and no vault secret ever reaches the HTML."""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from apps.audit.services import audit_record
from apps.catalog.models import ConnectorConfig
from apps.connect.models import ConnectSession, OAuthAttempt
from apps.connections.models import Connection, ConnectionModel, SyncRun
from apps.tenants.models import ApiKey
from apps.tenants.services import api_key_create
from apps.webhooks.models import WebhookDelivery
from tests.factories import ApplicationFactory, CustomerFactory, StaffUserFactory, provider_for

SECRET = "sekrit-token-123"
PATCHBAY_APPS = {"api", "audit", "tenants", "catalog", "connections", "connect", "webhooks", "sandbox"}

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser():
    return StaffUserFactory(username="root")


@pytest.fixture
def staff_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def seeded():
    """One row of every model, with the same known secret in every vault column."""
    application = ApplicationFactory(webhook_secret={"secret": SECRET})
    customer = CustomerFactory(application=application)
    provider = provider_for("patchbay-sandbox")
    config = ConnectorConfig.objects.create(
        application=application, provider=provider, client_id="cid", client_secret={"client_secret": SECRET}
    )
    connection = Connection.objects.create(
        application=application,
        customer=customer,
        provider=provider,
        connector_config=config,
        credentials={"access_token": SECRET, "refresh_token": SECRET},
    )
    model = ConnectionModel.objects.create(connection=connection, name="contacts", display_name="Contacts")
    run = SyncRun.objects.create(model=model)
    attempt = OAuthAttempt.objects.create(
        connection=connection,
        provider=provider,
        state_hash="a" * 64,
        code_verifier={"verifier": SECRET},
        redirect_uri="http://127.0.0.1:8000/connect/callback/patchbay-sandbox",
        expires_at=timezone.now() + timedelta(minutes=10),
    )
    session = ConnectSession.objects.create(
        application=application, customer=customer, token_hash="b" * 64, expires_at=timezone.now()
    )
    delivery = WebhookDelivery.objects.create(
        application=application, event_type="connection.created", payload={"id": connection.pk}, url="https://x.test"
    )
    api_key, _ = api_key_create(application=application, name="seed")
    event = audit_record(action="seed", target=application)
    return [application, customer, config, connection, model, run, attempt, session, delivery, api_key, event]


def patchbay_model_admins():
    return [
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in PATCHBAY_APPS
    ]


def test_every_patchbay_model_is_registered():
    registered = {model._meta.label for model, _ in patchbay_model_admins()}
    expected = {
        "tenants.Application", "tenants.ApiKey", "tenants.Customer", "catalog.Provider", "catalog.ConnectorConfig",
        "connections.Connection", "connections.ConnectionModel", "connections.SyncRun", "audit.AuditEvent",
        "connect.ConnectSession", "connect.OAuthAttempt", "webhooks.WebhookDelivery", "api.CustomerToken",
        "connections.RefreshEvent",
    }  # fmt: skip
    assert expected <= registered


def test_admin_changelists_change_and_add_pages_render_without_secrets(staff_client, superuser, seeded, rf):
    request = rf.get("/admin/")
    request.user = superuser
    by_model = {type(obj): obj for obj in seeded}
    by_model[provider_for("patchbay-sandbox").__class__] = provider_for("patchbay-sandbox")
    for model, model_admin in patchbay_model_admins():
        info = (model._meta.app_label, model._meta.model_name)
        changelist = reverse("admin:{}_{}_changelist".format(*info))
        pages = [changelist, changelist + "?q=x"]
        if model in by_model:
            pages.append(reverse("admin:{}_{}_change".format(*info), args=[by_model[model].pk]))
        if model_admin.has_add_permission(request):
            pages.append(reverse("admin:{}_{}_add".format(*info)))
        for url in pages:
            response = staff_client.get(url)
            assert response.status_code == 200, url
            html = response.content.decode()
            assert SECRET not in html, url
            assert "pbv1:" not in html, f"ciphertext rendered on {url}"


def test_vault_fields_show_set_or_not_set_without_decrypting(staff_client, seeded):
    connection = next(obj for obj in seeded if isinstance(obj, Connection))
    html = staff_client.get(reverse("admin:connections_connection_change", args=[connection.pk])).content.decode()
    assert "set · does not expire · no scopes" in html
    Connection.objects.filter(pk=connection.pk).update(credentials=None)
    html = staff_client.get(reverse("admin:connections_connection_change", args=[connection.pk])).content.decode()
    assert "— not set" in html


def test_key_hash_is_never_rendered(staff_client, seeded):
    api_key = next(obj for obj in seeded if isinstance(obj, ApiKey))
    for url in (
        reverse("admin:tenants_apikey_changelist"),
        reverse("admin:tenants_apikey_change", args=[api_key.pk]),
        reverse("admin:tenants_application_change", args=[api_key.application_id]),
    ):
        assert api_key.key_hash not in staff_client.get(url).content.decode()


def test_mfa_authenticator_admin_never_shows_the_totp_secret(staff_client, superuser):
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP

    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    authenticator = TOTP.activate(superuser, secret).instance
    for url in (
        reverse("admin:mfa_authenticator_changelist"),
        reverse("admin:mfa_authenticator_change", args=[authenticator.pk]),
    ):
        response = staff_client.get(url)
        assert response.status_code == 200
        assert secret not in response.content.decode()
    assert staff_client.post(reverse("admin:mfa_authenticator_delete", args=[authenticator.pk]), {"post": "yes"})
    assert not Authenticator.objects.filter(pk=authenticator.pk).exists()


def test_every_registered_admin_changelist_renders(staff_client, seeded):
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert staff_client.get(url).status_code == 200, url
    assert staff_client.get(reverse("admin:index")).status_code == 200


def test_every_admin_page_links_the_api_docs(staff_client):
    html = staff_client.get(reverse("admin:index")).content.decode()
    assert 'href="/api/docs"' in html
