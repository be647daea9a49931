"""A console world: an OAuth provider and a webhook receiver as real local HTTP servers, an authenticated
connection whose tokens are known (so pages can be scanned for them), a superuser and a Support user."""

import pytest

from apps.connections import services
from apps.connections.provider_client import exchange_code
from apps.console.services import support_group_sync
from tests.connections.conftest import make_provider
from tests.factories import ApplicationFactory, ConnectorConfigFactory, CustomerFactory, StaffUserFactory
from tests.provider_server import running_fake_provider

ACCESS_TOKEN = "at-console-secret-1"
REFRESH_TOKEN = "rt-console-secret-1"
CLIENT_SECRET = "client-secret-console-1"
WEBHOOK_SECRET = "whsec-console-secret-1"
SECRETS = [ACCESS_TOKEN, REFRESH_TOKEN, CLIENT_SECRET, WEBHOOK_SECRET]


def token_body(access=ACCESS_TOKEN, refresh=REFRESH_TOKEN):
    return {"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "expires_in": 3600}


@pytest.fixture
def provider_server():
    with running_fake_provider() as provider:
        yield provider


@pytest.fixture
def receiver():
    """The application's webhook endpoint."""
    with running_fake_provider() as endpoint:
        endpoint.on("POST", "/hooks", body={"ok": True})
        yield endpoint


@pytest.fixture
def application(db, receiver):
    return ApplicationFactory(
        name="Acme Corp", webhook_url=f"{receiver.url}/hooks", webhook_secret={"secret": WEBHOOK_SECRET}
    )


@pytest.fixture
def oauth_provider(db, provider_server):
    provider_server.on("POST", "/token", body=token_body())
    provider_server.on("GET", "/me", body={"id": "u1"})
    provider_server.on("POST", "/revoke", body={})
    return make_provider("fake-crm", provider_server.url, display_name="Fake CRM")


@pytest.fixture
def connector_config(application, oauth_provider):
    return ConnectorConfigFactory(
        application=application, provider=oauth_provider, client_secret={"client_secret": CLIENT_SECRET}
    )


@pytest.fixture
def connect(application, oauth_provider, connector_config, django_capture_on_commit_callbacks):
    """Make an authenticated connection for a new customer, the way the OAuth callback does."""

    def make(external_id: str = "acme-42", name: str = "Acme Corp"):
        customer = CustomerFactory(application=application, external_id=external_id, name=name)
        with django_capture_on_commit_callbacks(execute=True):
            connection = services.connection_create(application=application, customer=customer, provider=oauth_provider)
            token = exchange_code(
                connection=connection,
                config=connector_config,
                code="c",
                redirect_uri="https://x/cb",
                code_verifier=None,
            )
            return services.connection_store_oauth_token(connection=connection, token_response=token)

    return make


@pytest.fixture
def superuser(db):
    return StaffUserFactory(username="root")


@pytest.fixture
def support_user(db):
    user = StaffUserFactory(username="helpdesk", is_superuser=False)
    user.groups.add(support_group_sync())
    return user


@pytest.fixture
def superuser_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def support_client(client, support_user):
    client.force_login(support_user)
    return client
