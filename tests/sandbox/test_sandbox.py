"""The built-in sandbox OAuth2 provider: its OAuth client per application, sign-in, and tiny API."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password
from django.utils import timezone
from django.utils.html import escape
from oauth2_provider.models import get_application_model
from oauth2_provider.settings import oauth2_settings

from apps.catalog.models import ConnectorConfig
from apps.connections.exceptions import RefreshInterrupted
from apps.connections.models import Connection
from apps.connections.services import connection_refresh_credentials
from apps.sandbox.exceptions import SandboxNameTaken
from apps.sandbox.services import sandbox_connector_config_ensure, sandbox_user_get_or_create
from apps.sandbox.views import SESSION_KEY
from tests.factories import ApplicationFactory, ConnectionFactory, CustomerFactory, StaffUserFactory, provider_for
from tests.provider_server import running_fake_provider

pytestmark = pytest.mark.django_db
DotApplication = get_application_model()


def test_connector_config_ensure_creates_a_confidential_client_with_a_hashed_secret(settings):
    settings.PATCHBAY_BASE_URL = "http://patchbay.test"
    application = ApplicationFactory()

    config = sandbox_connector_config_ensure(application=application)

    dot_app = DotApplication.objects.get(client_id=config.client_id)
    assert config.provider.name == "patchbay-sandbox"
    assert dot_app.client_type == DotApplication.CLIENT_CONFIDENTIAL
    assert dot_app.authorization_grant_type == DotApplication.GRANT_AUTHORIZATION_CODE
    assert dot_app.redirect_uris == "http://patchbay.test/connect/callback/patchbay-sandbox"
    assert dot_app.hash_client_secret
    assert dot_app.client_secret != config.secret_value
    assert check_password(config.secret_value, dot_app.client_secret)
    raw = ConnectorConfig.objects.filter(pk=config.pk).values_list("client_secret", flat=True).first()
    assert raw.startswith("pbv1:")


def test_connector_config_ensure_is_idempotent_and_keeps_a_valid_secret():
    application = ApplicationFactory()
    first = sandbox_connector_config_ensure(application=application)
    second = sandbox_connector_config_ensure(application=application)
    assert first.pk == second.pk
    assert second.secret_value == first.secret_value
    assert DotApplication.objects.filter(client_id=first.client_id).count() == 1
    assert ConnectorConfig.objects.filter(application=application).count() == 1


def test_connector_config_ensure_repairs_a_secret_that_no_longer_matches():
    application = ApplicationFactory()
    first = sandbox_connector_config_ensure(application=application)
    dot_app = DotApplication.objects.get(client_id=first.client_id)
    dot_app.client_secret = "something-else"
    dot_app.save()

    repaired = sandbox_connector_config_ensure(application=application)

    assert repaired.secret_value != first.secret_value
    dot_app.refresh_from_db()
    assert check_password(repaired.secret_value, dot_app.client_secret)


def test_each_application_gets_its_own_client():
    one = sandbox_connector_config_ensure(application=ApplicationFactory())
    two = sandbox_connector_config_ensure(application=ApplicationFactory())
    assert one.client_id != two.client_id


def test_sandbox_user_is_never_staff_and_has_no_password():
    user = sandbox_user_get_or_create(display_name="  Ada   Lovelace ")
    assert not user.is_staff and not user.is_superuser
    assert not user.has_usable_password()
    assert user.sandbox_identity.display_name == "Ada Lovelace"
    assert sandbox_user_get_or_create(display_name="Ada Lovelace").pk == user.pk


def test_sandbox_sign_in_never_becomes_a_real_account():
    get_user_model().objects.create(username="sandbox__root", is_staff=True)
    with pytest.raises(SandboxNameTaken):
        sandbox_user_get_or_create(display_name="root")


def test_login_page_says_a_staff_name_is_taken(client):
    get_user_model().objects.create(username="sandbox__root", is_staff=True)
    response = client.post("/sandbox/login/", {"display_name": "root"})
    assert response.status_code == 400
    assert escape(SandboxNameTaken.message) in response.content.decode()
    assert SESSION_KEY not in client.session


def test_login_page_then_redirects_to_the_consent_page(client):
    next_url = "/sandbox/o/authorize/?client_id=x"
    page = client.get("/sandbox/login/", {"next": next_url})
    assert page.status_code == 200
    response = client.post("/sandbox/login/", {"display_name": "Grace", "next": next_url})
    assert response.status_code == 302
    assert response["Location"] == next_url
    # The sandbox identity is not a Django login: admin still sees an anonymous visitor.
    assert "_auth_user_id" not in client.session


def test_login_refuses_off_site_next(client):
    response = client.post("/sandbox/login/", {"display_name": "Grace", "next": "https://evil.example/"})
    assert response["Location"] == "/sandbox/"


def test_authorize_without_sandbox_sign_in_goes_to_the_sandbox_login(client):
    StaffUserFactory()
    response = client.get("/sandbox/o/authorize/", {"client_id": "x", "response_type": "code"})
    assert response.status_code == 302
    assert response["Location"].startswith("/sandbox/login/?next=")


def test_staff_login_is_not_used_as_the_sandbox_identity(client):
    client.force_login(StaffUserFactory())
    response = client.get("/sandbox/o/authorize/", {"client_id": "x", "response_type": "code"})
    assert response["Location"].startswith("/sandbox/login/")


@pytest.mark.parametrize(
    ("header", "status", "message"),
    [
        ("", 401, "Authorization: Bearer"),
        ("Bearer nope", 401, "start with sk_sandbox_"),
        ("Basic abc", 401, "Authorization: Bearer"),
        ("Bearer sk_sandbox_demo", 200, ""),
    ],
)
def test_key_check(client, header, status, message):
    headers = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get("/sandbox/api/key-check", **headers)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    if message:
        assert message in response.json()["message"]
    else:
        assert response.json()["ok"] is True


def test_me_requires_a_valid_access_token(client):
    assert client.get("/sandbox/api/me").status_code in (401, 403)
    assert client.get("/sandbox/api/me", HTTP_AUTHORIZATION="Bearer nope").status_code in (401, 403)


@pytest.mark.parametrize("grace_seconds, resent", [(0, False), (120, True)])
def test_an_interrupted_sandbox_refresh_follows_the_grace_the_sandbox_enforces(settings, grace_seconds, resent):
    """The catalog entry reads the grace from the setting the sandbox's token endpoint enforces: change
    PATCHBAY_SANDBOX_REFRESH_GRACE_SECONDS and the refresher's resend decision follows, with no file to edit."""
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": grace_seconds}
    provider = provider_for("patchbay-sandbox")
    assert provider.refresh_token_reuse_seconds == oauth2_settings.REFRESH_TOKEN_GRACE_PERIOD_SECONDS == grace_seconds
    application = ApplicationFactory()
    sandbox_connector_config_ensure(application=application)
    now = timezone.now()
    connection = ConnectionFactory(
        application=application,
        customer=CustomerFactory(application=application),
        provider=provider,
        is_authentication_pending=False,
        status=Connection.Status.HEALTHY,
        credentials={"access_token": "at-0", "refresh_token": "rt-0"},
        credentials_expires_at=now - timedelta(seconds=1),
    )
    Connection.objects.filter(pk=connection.pk).update(refresh_started_at=now - timedelta(seconds=30))
    with running_fake_provider() as sandbox:  # stands in for the sandbox's token endpoint at {base_url}
        settings.PATCHBAY_BASE_URL = sandbox.url
        sandbox.on(
            "POST", "/sandbox/o/token/", body={"access_token": "at-1", "refresh_token": "rt-1", "expires_in": 300}
        )
        if resent:
            connection_refresh_credentials(connection_id=connection.pk, force=True)
        else:
            with pytest.raises(RefreshInterrupted):
                connection_refresh_credentials(connection_id=connection.pk, force=True)
    sent = [call.form for call in sandbox.requests]
    assert len(sent) == (1 if resent else 0)
    stored = Connection.objects.get(pk=connection.pk)
    if resent:
        assert sent[0]["refresh_token"] == "rt-0" and stored.credentials["refresh_token"] == "rt-1"
    else:
        assert stored.health_status_code == "refresh_interrupted"
