import pytest

from apps.catalog.models import Provider
from apps.catalog.schema import validate_provider
from tests.factories import ApplicationFactory, ConnectorConfigFactory, CustomerFactory
from tests.provider_server import running_fake_provider


@pytest.fixture
def fake_provider():
    with running_fake_provider() as provider:
        yield provider


def make_provider(name: str, base_url: str, **overrides) -> Provider:
    """A catalog provider whose endpoints point at a local fake provider server."""
    data = {
        "name": name,
        "display_name": name.title(),
        "description": "A test provider.",
        "categories": ["crm"],
        "auth_type": "oauth2",
        "website": "https://example.com",
        "color": "#123456",
        "oauth": {
            "authorize_url": f"{base_url}/authorize",
            "token_url": f"{base_url}/token",
            "revoke_url": f"{base_url}/revoke",
            "client_auth": "body",
        },
        "scopes": [{"scope": "read", "kind": "default"}],
        "verification": {"url": f"{base_url}/me"},
    }
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        elif isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    definition = validate_provider(data, source=f"{name}.yaml")
    return Provider.objects.create(
        name=name,
        display_name=definition["display_name"],
        auth_type=definition["auth_type"],
        categories=definition["categories"],
        definition=definition,
        source_file=f"/tmp/{name}.yaml",
        content_hash="test",
    )


@pytest.fixture
def application(db):
    return ApplicationFactory()


@pytest.fixture
def customer(application):
    return CustomerFactory(application=application)


@pytest.fixture
def oauth_provider(db, fake_provider):
    return make_provider("fake-crm", fake_provider.url)


@pytest.fixture
def connector_config(application, oauth_provider):
    return ConnectorConfigFactory(application=application, provider=oauth_provider)
