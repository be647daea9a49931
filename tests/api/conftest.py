import json
import time

import pytest
from django.test import Client

from apps.tenants.services import api_key_create
from tests.connections.conftest import fake_provider  # noqa: F401 - a fixture shared with the API tests
from tests.factories import ApplicationFactory, ConnectionFactory, CustomerFactory, provider_for


@pytest.fixture
def fresh_rate_window():
    """Starts a rate-limit test at least 10 s before its one-minute window rolls over, so every request
    it counts falls in one window."""
    from apps.api.auth import RATE_WINDOW_SECONDS

    left = RATE_WINDOW_SECONDS - time.time() % RATE_WINDOW_SECONDS
    if left < 10:
        time.sleep(left + 0.05)


class ApiClient:
    """django.test.Client that sends a bearer key and JSON bodies."""

    def __init__(self, raw_key: str | None):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {raw_key}"} if raw_key else {}

    def _send(self, method: str, path: str, data=None, **params):
        kwargs = {"headers": self.headers}
        if data is not None:
            kwargs["data"] = json.dumps(data)
            kwargs["content_type"] = "application/json"
        if params:
            kwargs["QUERY_STRING"] = "&".join(
                f"{k}={v}" for k, values in params.items() for v in (values if isinstance(values, list) else [values])
            )
        return getattr(self.client, method)(path, **kwargs)

    def get(self, path, **params):
        return self._send("get", path, **params)

    def post(self, path, data=None):
        return self._send("post", path, data if data is not None else {})

    def patch(self, path, data=None):
        return self._send("patch", path, data if data is not None else {})

    def delete(self, path):
        return self._send("delete", path)


@pytest.fixture(autouse=True)
def _every_api_test_starts_with_an_empty_cache(empty_cache):
    """Remembered API keys and rate-limit counts (tests/conftest.py::empty_cache) never cross tests."""


@pytest.fixture
def application(db):
    return ApplicationFactory()


@pytest.fixture
def api_key(application):
    key, raw = api_key_create(application=application, name="tests")
    return key, raw


@pytest.fixture
def api(api_key):
    return ApiClient(api_key[1])


@pytest.fixture
def other_application(db):
    return ApplicationFactory()


@pytest.fixture
def customer(application):
    return CustomerFactory(application=application, external_id="acme-1")


@pytest.fixture
def bc_connection(application, customer):
    return ConnectionFactory(
        application=application,
        customer=customer,
        provider=provider_for("ms-dynamics-bc"),
        display_name="Acme BC",
        is_authentication_pending=False,
        status="healthy",
        health_status_code="healthy",
        settings={
            "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "environment": "Production",
            "company": "11111111-2222-3333-4444-555555555555",
            "company_name": "Acme Ltd",
            "is_on_premise": False,
            "include_dimension_lines": True,
        },
        credentials={"access_token": "at-secret-value", "refresh_token": "rt-secret-value", "token_type": "Bearer"},
    )
