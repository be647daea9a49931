import pytest

from apps.tenants.services import webhook_secret_new
from tests.provider_server import running_fake_provider


@pytest.fixture
def receiver():
    """The application's webhook endpoint: a local server that records what it is sent."""
    with running_fake_provider() as provider:
        yield provider


@pytest.fixture
def secret():
    return webhook_secret_new()
