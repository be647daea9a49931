import pytest
from django.core.cache import cache
from django.core.management import call_command


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Every test database starts with the real provider catalog loaded."""
    with django_db_blocker.unblock():
        call_command("load_catalog", verbosity=0)


@pytest.fixture(autouse=True)
def _every_json_response_uses_the_one_timestamp_format(monkeypatch):
    """Wraps the Django test client, so every JSON answer any test receives is scanned (tests/wire_timestamps.py)."""
    from django.test.client import Client

    from tests.wire_timestamps import check_response

    send = Client.request

    def request(self, **kwargs):
        response = send(self, **kwargs)
        check_response(response)
        return response

    monkeypatch.setattr(Client, "request", request)


@pytest.fixture
def empty_cache():
    """The cache emptied before and after the test: the API keys a process remembers (and their rate-limit
    counts) from one test would otherwise let the next skip the key lookup it counts, or start over its limit."""
    cache.clear()
    yield
    cache.clear()
