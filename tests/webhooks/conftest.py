import pytest

from apps.tenants.services import webhook_secret_new
from tests.provider_server import start_fake_provider


@pytest.fixture
def receiver():
    """The application's webhook endpoint: a local server that records what it is sent."""
    provider, server = start_fake_provider()
    yield provider
    server.shutdown()
    server.server_close()


@pytest.fixture
def secret():
    return webhook_secret_new()
